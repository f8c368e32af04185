"""``tokentool index serve|mint|revoke|delete|list``: a thin face over ``tokentool.index``.

``mint`` prints the token alone on stdout so a parent reads it through a pipe;
every other message goes to stderr. Errors are one ``tokentool: error:`` line.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from tokentool.cli._base import Parser, guarded

PROG = "tokentool index"


def build_parser() -> argparse.ArgumentParser:
    from tokentool.index.settings import DEFAULT_DATA_DIR, ServeSettings

    parser = Parser(
        prog=PROG,
        description="Run and manage the local stand-in for Test PyPI's upload endpoint.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    def data_dir(p: argparse.ArgumentParser) -> None:
        p.add_argument("--data-dir", type=Path, help=ServeSettings.help("data_dir"))
        p.add_argument("--database", metavar="URL", help=ServeSettings.help("database"))

    serve = sub.add_parser(
        "serve",
        help="run the index in the foreground",
        description="Serve /legacy/ (uploads), /simple/ (PEP 503/691), /packages/, "
        "/pypi/NAME/json and the web pages (/, /project/NAME/, /account/login/, "
        "/manage/account/) until SIGINT/SIGTERM. "
        "Prints 'Serving on http://HOST:PORT/' once it accepts connections.",
    )
    ServeSettings.add_arguments(serve)

    mint = sub.add_parser(
        "mint",
        help="create a token (and the user if needed); prints the token alone",
        description="Print a new token the way the account page issues it: user-wide, or "
        "scoped to a project the user has a role on.",
    )
    data_dir(mint)
    mint.add_argument("--user", required=True)
    mint.add_argument("--project", help="scope the token to this project")
    mint.add_argument("--description", help="token name (unique per user)")
    mint.add_argument("--domain", help="override the domain the server was started with")
    mint.add_argument(
        "--unverified-email",
        action="store_true",
        help="the user has no verified primary e-mail (uploads are refused, as on the "
        "site); each mint sets the user's standing",
    )
    mint.add_argument(
        "--no-2fa",
        action="store_true",
        help="the user has no two-factor authentication (uploads are refused, as on the site)",
    )
    mint.add_argument(
        "--stored-only",
        action="store_true",
        help="embed no restriction in the token; keep them only with its row, judged there "
        "(as pypi/warehouse#20371 would mint project tokens)",
    )

    passwd = sub.add_parser(
        "passwd",
        help="set a user's password for the web pages (read from stdin, never argv)",
        description="Set the password USER logs in with at /account/login/ (creating USER "
        "if needed) to make and remove tokens in the browser. The password is read from "
        "standard input (one line), or a hidden prompt asked twice on a terminal; never "
        "from the command line. Stored as an argon2 hash; sessions from before end.",
    )
    data_dir(passwd)
    passwd.add_argument("user", metavar="USER")

    revoke = sub.add_parser("revoke", help="delete a token by its identifier")
    data_dir(revoke)
    revoke.add_argument("identifier", metavar="IDENTIFIER")

    delete = sub.add_parser(
        "delete",
        help="delete a project, a release or a file (its name can never be uploaded again)",
        description="Delete as a project owner can on the site: the whole project, one "
        "release (VERSION) or one file (VERSION FILENAME). A deleted file's name is never "
        "accepted again.",
    )
    data_dir(delete)
    delete.add_argument("project", metavar="PROJECT")
    delete.add_argument("version", metavar="VERSION", nargs="?")
    delete.add_argument("filename", metavar="FILENAME", nargs="?")

    migrate = sub.add_parser(
        "migrate",
        help="copy a SQLite data folder into PostgreSQL",
        description="Copy everything in --data-dir (users, tokens, projects, files, rate-limit "
        "hits, deleted names; package files too, unless --keep-files-in-folder) into an empty "
        "PostgreSQL database, in one transaction. The folder is left as it was.",
    )
    migrate.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help=f"the SQLite folder to copy (default: {DEFAULT_DATA_DIR} in the project root)",
    )
    migrate.add_argument("--to", required=True, metavar="URL", help="postgresql://USER@HOST/DB")
    migrate.add_argument(
        "--keep-files-in-folder",
        action="store_true",
        help="copy only the state; the stand-ins will serve files from --data-dir/packages "
        "(a shared folder)",
    )
    migrate.set_defaults(database=None)

    yank = sub.add_parser(
        "yank",
        help="yank a release (installers skip it unless pinned), or --undo it",
        description="Mark a release yanked, as an owner can on the site (PEP 592): its "
        "files stay, pip and uv skip it unless a requirement pins it exactly.",
    )
    data_dir(yank)
    yank.add_argument("project", metavar="PROJECT")
    yank.add_argument("version", metavar="VERSION")
    yank.add_argument("--reason", default="", help="shown on the pages and to installers")
    yank.add_argument("--undo", action="store_true", help="un-yank the release")

    listing = sub.add_parser(
        "list", help="users, projects, owners and token identifiers (never a token or key)"
    )
    data_dir(listing)
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def _print_listing(data: dict[str, object]) -> None:
    users = data["users"]
    projects = data["projects"]
    tokens = data["tokens"]
    assert isinstance(users, list) and isinstance(projects, list) and isinstance(tokens, list)
    from tokentool._safety import escape as e  # names come from whoever registered them

    print(f"domain: {e(data['domain'])}")
    print("users:" + ("" if users else " none"))
    for u in users:
        print(f"  {e(u['username'])} ({u['id']})")
    print("projects:" + ("" if projects else " none"))
    for p in projects:
        owners = ", ".join(e(o) for o in p["owners"]) or "nobody"
        print(f"  {e(p['name'])} ({p['id']}) owners: {owners}; files: {len(p['files'])}")
    print("tokens:" + ("" if tokens else " none"))
    for t in tokens:
        print(
            f"  {t['identifier']} user={e(t['user'])} scope={e(t['scope'])} "
            f"{e(repr(t['description']))}"
        )


def _escaped(text: str) -> str:
    from tokentool._safety import escape

    return escape(text)


def _read_password() -> str:
    """One line from stdin, or a hidden prompt asked twice at a terminal; bounded either way."""
    from tokentool._errors import UsageError
    from tokentool.index.web.accounts import MAX_PASSWORD_SIZE

    stream = sys.stdin
    if stream is None:
        raise UsageError("no password given: pipe it on standard input")
    if stream.isatty():
        import getpass

        first = getpass.getpass("New password (input hidden): ")
        if getpass.getpass("Repeat it: ") != first:
            raise UsageError("the two passwords differ; nothing was changed")
        return first
    text = stream.read(MAX_PASSWORD_SIZE + 3)  # a line ending, and one more to know
    text = text[:-2] if text.endswith("\r\n") else text.removesuffix("\n")
    if len(text) > MAX_PASSWORD_SIZE or "\n" in text:
        raise UsageError(f"the password must be one line of at most {MAX_PASSWORD_SIZE} characters")
    return text


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    return guarded(lambda: _run(parser, list(sys.argv[1:] if argv is None else argv)))


def _run(parser: argparse.ArgumentParser, argv: list[str]) -> int:
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    if args.data_dir is None and args.database is None:
        from tokentool._root import find_root
        from tokentool.index.settings import DEFAULT_DATA_DIR

        args.data_dir = find_root() / DEFAULT_DATA_DIR
    if args.command == "serve":
        from tokentool.index._server import serve
        from tokentool.index.settings import ServeSettings

        return serve(ServeSettings.from_argparse(args))
    if args.command == "migrate":
        from tokentool.index._copy import copy_to_postgresql

        copied = copy_to_postgresql(
            args.data_dir, args.to, files=not args.keep_files_in_folder, progress=sys.stderr
        )
        print(f"copied {copied}", file=sys.stderr)
        return 0
    from tokentool.index import Index

    index = Index(args.data_dir, domain=getattr(args, "domain", None), database=args.database)
    try:
        if args.command == "mint":
            raw = index.mint(
                args.user,
                args.project,
                args.description,
                unverified_email=args.unverified_email,
                no_2fa=args.no_2fa,
                stored_only=args.stored_only,
            )
            print(raw, flush=True)
        elif args.command == "passwd":
            index.set_password(args.user, _read_password())
            print(f"password set for {_escaped(args.user)}", file=sys.stderr)
        elif args.command == "yank":
            version = index.yank(args.project, args.version, args.reason, undo=args.undo)
            what = "un-yanked" if args.undo else "yanked"
            print(f"{what} {_escaped(args.project)} {_escaped(version)}", file=sys.stderr)
        elif args.command == "revoke":
            index.revoke(args.identifier)
            print(f"revoked {args.identifier}", file=sys.stderr)
        elif args.command == "delete":
            for name in index.delete(args.project, args.version, args.filename):
                print(f"deleted {name}", file=sys.stderr)
        else:
            data = index.listing()
            if args.json:
                print(json.dumps(data, indent=2))
            else:
                _print_listing(data)
    finally:
        index.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
