"""A small real FastAPI service for the plangen tests: FastAPI writes its OpenAPI document and its request
validation answers 422 to a wrong parameter, so a generated plan with one invalid value fails loudly."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from fastapi import FastAPI, Header, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel


class Color(StrEnum):
    red = "red"
    green = "green"
    blue = "blue"


class Sort(StrEnum):
    price = "price"
    name = "name"


class Item(BaseModel):
    id: int
    name: str
    color: Color
    price: float


class Review(BaseModel):
    item_id: int
    stars: int
    text: str


class Page(BaseModel):
    total: int
    reviews: list[Review]


class NewItem(BaseModel):
    name: str
    color: Color
    price: float


# ids start at 101: a made-up id (1) would be answered 404, so a run with 0 errors proves the ids came from the pool
ITEMS = [Item(id=101 + i, name=f"item{i}", color=list(Color)[i % 3], price=5.0 + i) for i in range(20)]
BY_ID = {it.id: it for it in ITEMS}

app = FastAPI(title="Shop API", version="1.2.3")

# every request the service received, as "METHOD /path": the tests prove which methods `init` sent
RECEIVED: list[str] = []


@app.middleware("http")
async def _record(request: Request, call_next: Any) -> Response:
    RECEIVED.append(f"{request.method} {request.url.path}")
    response: Response = await call_next(request)
    return response

# orders are untyped in the spec (plain dicts, no response model): their ids can only come from a real answer;
# they start at 501, so a made-up id (the schema's minimum, 1) answers 404
ORDERS = [{"order_no": 501 + i, "customer": f"c{i}", "total": 10.0 + i} for i in range(8)]


@app.get("/items", response_model=list[Item], operation_id="list_items")
def list_items(limit: Annotated[int, Query(ge=1, le=50)] = 20, color: Color | None = None) -> list[Item]:
    return [it for it in ITEMS if color is None or it.color == color][:limit]


@app.get("/items/{item_id}", response_model=Item, operation_id="get_item")
def get_item(item_id: Annotated[int, Path(ge=1)]) -> Item:
    if item_id not in BY_ID:
        raise HTTPException(404, f"no item {item_id}")
    return BY_ID[item_id]


@app.get("/items/{item_id}/reviews", response_model=Page, operation_id="item_reviews")
def item_reviews(item_id: Annotated[int, Path(ge=1)],
                 stars: Annotated[int, Query(ge=1, le=5)],
                 page: Annotated[int, Query(ge=1, le=10)] = 1) -> Page:
    if item_id not in BY_ID:
        raise HTTPException(404, f"no item {item_id}")
    return Page(total=1, reviews=[Review(item_id=item_id, stars=stars, text="fine")])


@app.get("/search", response_model=list[Item], operation_id="search_items")
def search(q: Annotated[str, Query(pattern=r"^[a-z]{3,8}$")],
           sort: Sort,
           min_price: Annotated[float, Query(ge=0, le=1000)],
           max_results: Annotated[int, Query(gt=0, lt=25, multiple_of=5)]) -> list[Item]:
    hits = [it for it in ITEMS if q in it.name and it.price >= min_price]
    return sorted(hits, key=lambda it: getattr(it, sort.value))[:max_results]


@app.get("/stores/{store_code}", operation_id="get_store")
def get_store(store_code: Annotated[str, Path(pattern=r"^[A-Z]{2}-\d{3}$")],
              x_client: Annotated[str, Header(min_length=3, max_length=12)]) -> dict[str, str]:
    return {"code": store_code, "client": x_client}


@app.get("/health", operation_id="health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/items", response_model=Item, status_code=201, operation_id="create_item")
def create_item(new: NewItem) -> Item:
    return Item(id=1000, **new.model_dump())


@app.get("/orders", operation_id="list_orders")
def list_orders() -> list[dict[str, Any]]:
    return ORDERS


@app.get("/orders/{order_no}", operation_id="get_order")
def get_order(order_no: Annotated[int, Path(ge=1)]) -> dict[str, Any]:
    for order in ORDERS:
        if order["order_no"] == order_no:
            return order
    raise HTTPException(404, f"no order {order_no}")


# a retired endpoint: no list operation and no example, so the made-up id finds nothing; `--check` must say so
@app.get("/reports/{report_id}", operation_id="get_report")
def get_report(report_id: int) -> dict[str, int]:
    raise HTTPException(404, f"no report {report_id}")
