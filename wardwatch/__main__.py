from wardwatch.cli import main

main()
