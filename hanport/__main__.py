from hanport.cli.main import main

main()
