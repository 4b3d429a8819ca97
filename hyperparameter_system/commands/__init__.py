"""One module per CLI action, each with ``main(args: argparse.Namespace) -> int``."""
