from kernelalg.cli import run

run()
