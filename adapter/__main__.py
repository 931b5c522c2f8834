from adapter.cli.commands import main

main()
