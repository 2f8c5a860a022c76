"""Capacity: the highest open-model rate that meets the plan's SLOs."""
