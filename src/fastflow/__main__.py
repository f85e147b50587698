from fastflow.cli import main

main()
