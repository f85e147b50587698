"""Help text a person reads: every word kept, types named as people name them.

Typer's rich help reads text in square brackets as markup and drops it (`[env FASTFLOW_URL]`
vanished), and names types as Python does (`<str>`, `<list[str]>`, `<bool>` beside a flag).
These command classes render the plain, complete help instead: `NAME` for an argument,
`--limit N`, `-p, --param KEY=VALUE`, flags without a type, and `[env var: …; default: …]`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from typer.core import TyperCommand, TyperGroup

# Typer's type labels, as a person reads them (used where an option names no metavar).
_WORDS = {
    "str": "TEXT",
    "int": "INTEGER",
    "int range": "INTEGER",
    "float": "NUMBER",
    "float range": "NUMBER",
    "path": "PATH",
    "Path": "PATH",
    "bool": "",
    "list[str]": "TEXT",
}
F = TypeVar("F", bound=Callable[..., Any])
_TYPE = re.compile(r" <([^<>]*)>(\.\.\.)?")


def _readable(name: str) -> str:
    def word(match: re.Match[str]) -> str:
        label = match.group(1)
        if "|" in label:  # a choice: its values, as they are typed
            return f" [{label}]"
        readable = _WORDS.get(label, label.upper())
        return f" {readable}" if readable else ""

    return _TYPE.sub(word, name)


def _records(command: Any, ctx: typer.Context) -> tuple[list[tuple[str, str]], ...]:
    arguments: list[tuple[str, str]] = []
    options: list[tuple[str, str]] = []
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None:
            continue
        name, text = record
        if param.param_type_name == "argument":
            arguments.append((param.metavar or param.name.upper(), text))
        else:
            options.append((_readable(name), text))
    return arguments, options


def _format_params(command: Any, ctx: typer.Context, formatter: Any) -> None:
    arguments, options = _records(command, ctx)
    if arguments:
        with formatter.section("Arguments"):
            formatter.write_dl(arguments)
    if options:
        with formatter.section("Options"):
            formatter.write_dl(options)


def _usage(pieces: list[str]) -> list[str]:
    # `{name}` for a required argument reads like a set; the usual notation is `NAME`.
    return [(p[1:-1] if p.startswith("{") and p.endswith("}") else p).upper() for p in pieces]


class Command(TyperCommand):
    """A command whose help is plain text, complete, with readable types."""

    def format_options(self, ctx: Any, formatter: Any) -> None:
        _format_params(self, ctx, formatter)

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return _usage(super().collect_usage_pieces(ctx))


class Group(TyperGroup):
    """A command group with the same help as `Command`."""

    def format_options(self, ctx: Any, formatter: Any) -> None:
        _format_params(self, ctx, formatter)
        self.format_commands(ctx, formatter)

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return _usage(super().collect_usage_pieces(ctx))


def new_app(help: str, **kwargs: Any) -> typer.Typer:
    """A Typer app (or sub-app) whose commands render complete, plain help."""
    kwargs.setdefault("no_args_is_help", True)
    return typer.Typer(
        help=help,
        cls=Group,
        rich_markup_mode=None,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
        **kwargs,
    )


def command(app: typer.Typer, name: str | None = None, **kwargs: Any) -> Callable[[F], F]:
    """`app.command` with this module's help rendering."""
    register: Callable[[F], F] = app.command(name, cls=Command, **kwargs)
    return register
