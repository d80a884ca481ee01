from firstpitch.cli import main

main()
