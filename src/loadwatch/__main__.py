from loadwatch.cli import main

main()
