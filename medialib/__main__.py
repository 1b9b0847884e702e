from medialib.cli import run

run()
