from hanport.entrypoints.cli.main import main

main()
