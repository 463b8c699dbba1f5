"""The statesmix command line tool, following xz / zstd conventions.

    statesmix FILE...            compress each FILE to FILE.ssx (input kept)
    statesmix -d FILE.ssx...     decompress to FILE
    statesmix -t FILE.ssx...     decode and verify, write nothing
    statesmix -l [-v] FILE.ssx   list sizes, ratio and settings
    statesmix < in > out.ssx     no FILE (or "-"): standard input to output

Outputs are written to a temporary file in the output's directory and renamed
into place only when complete, so an error, a full disk or a signal never
leaves a partial output and never touches the input.  An existing output is
never overwritten without -f.  Errors print one line "statesmix: FILE:
message" and processing goes on with the next file; the exit status is 0 when
all went well, 1 when some file failed, 2 for a usage error, and 128 + the
signal's number after SIGINT (130), SIGTERM (143) or SIGHUP (129), which stop
the run within a fraction of a second, or when the output pipe closed (141,
as SIGPIPE).

The parts: console (messages), output (atomic output files), progress (the
-v line), driver (one file), listing (-l), signals.
"""
import argparse
import re

from .. import __version__
from .. import container as ct
from ..errors import StateSMixError
from ..options import check_block_size, check_frame_size, check_memory_limit, check_threads
from ..presets import (BY_NAME, DEFAULT_LEVEL, LEVEL_COSTS, LEVELS, LONG_INPUT_DEFAULT, WIDE_FROM,
                       preset_name, resolve)
from ..threads import PARALLEL_MIN_SIZE
from ..tokenizer import list_vocabularies
from ..units import fmt_bytes
from .console import STDIN_NAME, Console, stderr_line
from .driver import process
from .listing import list_files
from .output import silence_stdout
from .signals import Stop, stop_on_signals

_SIZE_RE = re.compile(r"^\s*(\d+)\s*(?:([kmg])(?:i?b)?|b)?\s*$", re.IGNORECASE)


def parse_size(text):
    """'65536', '64K', '64KiB', '1M', '1MB' -> bytes (binary multiples)."""
    m = _SIZE_RE.match(text)
    if not m:
        raise argparse.ArgumentTypeError("invalid size %r (examples: 65536, 64K, 1M)"
                                         % text)
    n = int(m.group(1))
    unit = (m.group(2) or "").lower()
    n <<= {"": 0, "k": 10, "m": 20, "g": 30}[unit]
    return n


def _checked(check, parse=int, what="integer"):
    """An argparse type: the text parsed, then checked by the API's own check
    (one rule for the library and the command line)."""
    def convert(text):
        try:
            value = parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError("invalid %s %r" % (what, text)) from None
        try:
            check(value)
        except (TypeError, ValueError) as e:
            raise argparse.ArgumentTypeError(str(e)) from None
        return value
    return convert


_block_size = _checked(check_block_size, parse_size, "size")
_frame_size = _checked(check_frame_size, parse_size, "size")
_memory_limit = _checked(check_memory_limit, parse_size, "size")
_level = _checked(lambda v: resolve(level=v))
_threads = _checked(check_threads)
_preset = _checked(lambda name: resolve(preset=name), str)


def _vocabulary(text):
    try:
        entries = list_vocabularies()
    except StateSMixError as e:
        raise argparse.ArgumentTypeError(str(e))
    for e in entries:
        if str(e["id"]) == text or e["name"] == text:
            return e["id"]
    raise argparse.ArgumentTypeError("unknown vocabulary %r (known: %s)" % (
        text, ", ".join("%d:%s" % (e["id"], e["name"]) for e in entries)))


def _levels_help():
    """What each level costs, as measured (presets.LEVEL_COSTS)."""
    lines = ["levels, measured on enwik6 (10^6 bytes of Wikipedia; 2 threads, "
             "2-core VM):",
             "  level  preset     bytes     compress  decompress  peak RSS"]
    for level in sorted(LEVELS):
        name = preset_name(LEVELS[level])
        size, comp, decomp, rss = LEVEL_COSTS[name]
        lines.append("  -%d     %-9s %9s %8.0f s %9.0f s %6d MB%s" % (
            level, name, "{:,}".format(size), comp, decomp, rss,
            "  (default)" if level == DEFAULT_LEVEL else ""))
    lines.append("  from %s of input, levels %d-%d take level %d's preset (smaller there)"
                 % (fmt_bytes(WIDE_FROM), min(LONG_INPUT_DEFAULT), max(LONG_INPUT_DEFAULT),
                    DEFAULT_LEVEL))
    return "\n".join(lines)


def build_parser():
    p = argparse.ArgumentParser(
        prog="statesmix",
        description="Compress or decompress FILEs in the .ssx format (an online-\n"
                    "trained model over BPE tokens and a range coder).  With no\n"
                    "FILE, or when FILE is -, read standard input and write\n"
                    "standard output.",
        epilog=_levels_help() +
        "\n\nRatio is compressed/original size; bpb is 8*compressed/original.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("-z", "--compress", dest="mode", action="store_const",
                      const="compress", help="compress (the default)")
    mode.add_argument("-d", "--decompress", "--uncompress", dest="mode",
                      action="store_const", const="decompress", help="decompress")
    mode.add_argument("-t", "--test", dest="mode", action="store_const", const="test",
                      help="decode and verify the files, write nothing")
    mode.add_argument("-l", "--list", dest="mode", action="store_const", const="list",
                      help="list information about .ssx files (with -v: decode them "
                           "and report model statistics)")
    p.set_defaults(mode="compress", keep=True)
    p.add_argument("-k", "--keep", dest="keep", action="store_true",
                   help="keep the input files (the default)")
    p.add_argument("--rm", dest="keep", action="store_false",
                   help="remove each input once its output is complete and verified")
    p.add_argument("-c", "--stdout", "--to-stdout", action="store_true",
                   help="write to standard output")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE (one input)")
    p.add_argument("-f", "--force", action="store_true",
                   help="overwrite outputs, write compressed data to a terminal, "
                        "compress files that already have the suffix")
    p.add_argument("-T", "--threads", type=_threads, metavar="N", default=None,
                   help="threads for the model, or worker processes for frames (0 = "
                        "all cores, at most the cores; default: frames use all cores, "
                        "a model one thread below %s of input or at level 1); never "
                        "changes output"
                        % fmt_bytes(PARALLEL_MIN_SIZE))
    for lvl in range(1, 10):
        p.add_argument("-%d" % lvl, dest="level", action="store_const", const=lvl,
                       help=argparse.SUPPRESS)
    p.add_argument("--level", type=_level, metavar="N", dest="level",
                   help="compression level 1-9 (also -1 .. -9; default %d)"
                        % DEFAULT_LEVEL)
    p.add_argument("--preset", type=_preset, metavar="NAME",
                   help="model preset by name (%s)" % ", ".join(sorted(BY_NAME)))
    p.add_argument("--block-size", type=_block_size, metavar="BYTES",
                   help="block size, e.g. 1M or 64K (default %s)"
                        % fmt_bytes(ct.DEFAULT_BLOCK_SIZE))
    p.add_argument("--frame-size", type=_frame_size, metavar="SIZE",
                   help="compress in independent frames of at most SIZE (e.g. 4M), in "
                        "parallel, with an index for seeking; a frame is a stream of its "
                        "own, so every statesmix reads the file")
    p.add_argument("--vocabulary", type=_vocabulary, metavar="ID|NAME",
                   help="BPE vocabulary to compress with (default: the registry's)")
    p.add_argument("--memory-limit", type=_memory_limit, metavar="SIZE", default=None,
                   help="keep a stream's memory under SIZE, e.g. 512M or 2G "
                        "(estimated from its configuration): compressing makes "
                        "the model's tables smaller to fit; a stream that still "
                        "does not fit, or that decompressing would need more "
                        "for, is refused")
    p.add_argument("-v", "--verbose", action="count", default=0,
                   help="progress indicator on a terminal (-vv: always) and a "
                        "summary line; with -l, decode and report model statistics")
    p.add_argument("-q", "--quiet", action="count", default=0,
                   help="suppress warnings (-qq: errors too)")
    p.add_argument("-V", "--version", action="version",
                   version="statesmix %s" % __version__)
    p.add_argument("files", nargs="*", metavar="FILE")
    return p


def main(argv=None):
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        files = args.files or ["-"]
        if args.output and args.stdout:
            parser.error("-c/--stdout and -o/--output cannot be combined")
        if args.output and len(files) > 1:
            parser.error("-o/--output takes a single input file")
        if files.count("-") > 1:
            parser.error("standard input (-) given more than once")
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    args.rm = not args.keep
    if args.mode in ("test", "list") or args.stdout:
        args.rm = False
    con = Console(args.verbose, args.quiet)
    try:
        with stop_on_signals():
            if args.mode == "list":
                return list_files(files, args, con)
            status = 0
            for src in files:
                status |= con.guard(STDIN_NAME if src == "-" else src,
                                    lambda: process(src, args, con))
            return status
    except Stop as e:
        if e.name == "SIGPIPE":
            silence_stdout()       # nothing more can reach the reader, not even at exit
        else:
            stderr_line("statesmix: interrupted by %s" % e.name)
        return e.status
    except KeyboardInterrupt:      # from code that runs outside the handlers
        stderr_line("statesmix: interrupted")
        return 130
