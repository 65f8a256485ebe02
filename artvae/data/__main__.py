"""`python -m artvae.data build|pack`: see `artvae.train.data.main`."""

from artvae.train.data import main

if __name__ == "__main__":
    main()
