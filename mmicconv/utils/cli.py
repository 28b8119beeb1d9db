"""The tools' error contract: a failure is ONE line on stderr, ``ERROR: <file>: <problem>``,
and exit status 1; ``--debug`` shows the traceback instead.

Every command-line tool of the project (``tools/*.py``, ``python -m
mmicconv.pose.convert_0x``) runs its work through :func:`run_cli` and adds
``--debug`` with :func:`add_debug_arg`; an error whose message is already the
line the user should see is a :class:`ToolError`.
"""

from __future__ import annotations

import argparse
import os.path as osp
import re
import sys
from typing import Any, Callable, Optional, Sequence

__all__ = ['ToolError', 'add_debug_arg', 'first_line', 'one_line_error', 'run_cli', 'require_file']


def add_debug_arg(parser: argparse.ArgumentParser) -> None:
    """``--debug``: show the full traceback of an error instead of the one-line message."""
    parser.add_argument('--debug', action='store_true',
                        help='on an error, show the full traceback instead of one line')


class ToolError(Exception):
    """An error whose message is already the one line the user sees (it names the file)."""


#: mmengine's registry prefixes a build error with ``class `X` in scope/registry: `` per level.
_BUILD_PREFIX = re.compile(r'class `(\w+)` in [\w.:-]+/[\w.-]+: ')


#: Exception types whose message says what is wrong without the type's name.
_SELF_EXPLAINING = ('PatternError', 'PatternMismatchError', 'CheckpointFitError', 'CheckpointMismatchError',
                    'FileNotFoundError', 'ToolError')


#: Exception types whose message starts with the file it is about (checkpoint or pattern).
_NAMES_ITS_FILE = ('PatternError', 'PatternMismatchError', 'CheckpointFitError')


def first_line(err: BaseException) -> str:
    text = str(err).strip().strip('"\'') or type(err).__name__
    return text.splitlines()[0].strip()


def one_line_error(err: BaseException, files: Sequence[str] = ()) -> str:
    """The one-line message for ``err``: its first line, mmengine's build prefixes
    folded into ``(building X > Y)``, prefixed by ``files[0]`` unless it names
    one of ``files`` already."""
    if isinstance(err, ToolError):
        return first_line(err)
    text = first_line(err)
    classes = _BUILD_PREFIX.findall(text)
    text = _BUILD_PREFIX.sub('', text)
    if classes:
        text = f'{text} (building {" > ".join(classes)})'
    if type(err).__name__ not in _SELF_EXPLAINING:
        text = f'{type(err).__name__}: {text}'
    named = [f for f in files if f and str(f) in text]
    if files and files[0] and not named and type(err).__name__ not in _NAMES_ITS_FILE:
        text = f'{files[0]}: {text}'
    return text


def run_cli(body: Callable[[], int], debug: bool, files: Sequence[Any] = ()) -> int:
    """Run a tool's ``body``; on an error print one line and return 1.

    Args:
        body: The tool's work; returns its exit status.
        debug: Re-raise instead (the full traceback).
        files: The tool's input files, the first one (the config) names the
            error when the message names none of them.
    """
    try:
        return body()
    except KeyboardInterrupt:
        raise
    except SystemExit as err:  # argparse and explicit ``raise SystemExit('message')``
        if debug or not isinstance(err.code, str):
            raise
        print(f'ERROR: {err.code}', file=sys.stderr, flush=True)
        return 1
    except Exception as err:  # noqa: BLE001  (the contract: one line, no traceback)
        if debug:
            raise
        print(f'ERROR: {one_line_error(err, [str(f) for f in files if f])}', file=sys.stderr, flush=True)
        return 1


def require_file(path: Optional[str], what: str) -> None:
    """Fail fast when a local input file is missing (URLs are left to their loaders)."""
    if path is None or '://' in str(path):
        return
    if not osp.exists(path):
        raise ToolError(f'{path}: {what} file not found')
    if not osp.isfile(path):
        raise ToolError(f'{path}: {what} is not a file')
