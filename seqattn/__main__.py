"""The ``seqattn`` command's front door (``python -m seqattn`` and the installed script): it
imports nothing heavy before it can answer an interrupt, so that Ctrl-C at any moment is one
line, and once the command has said its last line an interrupt changes nothing."""

import sys


def main(argv=None):
    """Run the command -> its exit status (130 after an interrupt, with one line)."""
    import signal

    try:
        from .cli import main as run  # numpy, the models, ...: a while, during which Ctrl-C is one line too

        status = run(argv)
    except KeyboardInterrupt:
        words = [a for a in (sys.argv[1:] if argv is None else argv) if not a.startswith("-")]
        command = f" {words[0]}" if words and words[0].isalpha() else ""
        print(f"seqattn{command}: interrupted", file=sys.stderr)
        status = 130
    if argv is None:  # this process is the command's: its last line is said, and its status stands
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    return status


if __name__ == "__main__":
    sys.exit(main())
