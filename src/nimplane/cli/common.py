"""What every client command shares: the common flags (`-o`, `-q`, `-d`, `--verbose`,
`--context`), an example in its help, one error path to exit codes, and the signed-in client.

`command(group, example=...)` registers a function as a Typer command with the common flags
added to its signature; the function reads them with `options()` and gets its `Client` with
`client()`.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Annotated, Any, TypeVar

import typer

from nimplane.cli import contexts
from nimplane.cli.client import Client, CliError
from nimplane.cli.output import Format, Options, error

F = TypeVar("F", bound=Callable[..., Any])

_options: ContextVar[Options] = ContextVar("nimplane_cli_options", default=Options())  # noqa: B039
_client_factory: ContextVar[Callable[[Options], Client] | None] = ContextVar(
    "nimplane_cli_client_factory", default=None
)

_COMMON: list[inspect.Parameter] = [
    inspect.Parameter(
        "output",
        inspect.Parameter.KEYWORD_ONLY,
        default=Format.table,
        annotation=Annotated[
            Format, typer.Option("--output", "-o", help="table, wide, json or yaml.")
        ],
    ),
    inspect.Parameter(
        "quiet",
        inspect.Parameter.KEYWORD_ONLY,
        default=False,
        annotation=Annotated[
            bool, typer.Option("--quiet", "-q", help="Print nothing but errors (and ids).")
        ],
    ),
    inspect.Parameter(
        "debug",
        inspect.Parameter.KEYWORD_ONLY,
        default=False,
        annotation=Annotated[
            bool,
            typer.Option("--debug", "-d", help="Show each HTTP call on stderr (token redacted)."),
        ],
    ),
    inspect.Parameter(
        "verbose",
        inspect.Parameter.KEYWORD_ONLY,
        default=False,
        annotation=Annotated[bool, typer.Option("--verbose", help="Say more.")],
    ),
    inspect.Parameter(
        "context",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[
            str | None,
            typer.Option("--context", help="Use this named context instead of the current one."),
        ],
    ),
]
_COMMON_NAMES = [p.name for p in _COMMON]


def options() -> Options:
    return _options.get()


@contextmanager
def client_factory(factory: Callable[[Options], Client]) -> Iterator[None]:
    """Tests: build clients with `factory` (an injected clock, say) inside the block."""
    token = _client_factory.set(factory)
    try:
        yield
    finally:
        _client_factory.reset(token)


def client() -> Client:
    opts = options()
    factory = _client_factory.get()
    if factory is not None:
        return factory(opts)
    config = contexts.load()
    name = opts.context or config.current
    if name not in config.contexts:
        hint = "" if name == contexts.DEFAULT_CONTEXT else f" --context {name}"
        raise CliError(f"not logged in (no context {name}): run `nimplane login{hint}`")
    return Client(config, name, debug=opts.debug)


def fail(exc: CliError) -> typer.Exit:
    error(exc.message)
    for line in exc.lines:
        error(f"  {line}")
    return typer.Exit(int(exc.code))


def resolved_signature(fn: Callable[..., Any]) -> inspect.Signature:
    """`fn`'s signature with its annotations evaluated (Typer reads them from the signature)."""
    signature = inspect.signature(fn)
    hints = typing.get_type_hints(fn, include_extras=True)
    return signature.replace(
        parameters=[
            p.replace(annotation=hints.get(p.name, p.annotation))
            for p in signature.parameters.values()
        ],
        return_annotation=inspect.Signature.empty,
    )


def command(
    group: typer.Typer, name: str | None = None, *, example: str, **kwargs: Any
) -> Callable[[F], F]:
    """Register `fn` on `group` with the common flags and `example` in its help."""

    def decorate(fn: F) -> F:
        signature = resolved_signature(fn)
        hints = {p.name: p.annotation for p in signature.parameters.values()}

        @functools.wraps(fn)
        def wrapper(*args: Any, **values: Any) -> Any:
            common = {key: values.pop(key) for key in _COMMON_NAMES}
            token = _options.set(Options(**common))
            try:
                return fn(*args, **values)
            except CliError as exc:
                raise fail(exc) from None
            finally:
                _options.reset(token)

        params = [*signature.parameters.values(), *_COMMON]
        wrapper.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {**hints, **{p.name: p.annotation for p in _COMMON}}
        group.command(name, epilog=f"Example:  {example}", **kwargs)(wrapper)
        return fn

    return decorate
