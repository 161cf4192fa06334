"""Finding a submission's topic modules and staging them, unpacking archives safely.

A submission is a folder or an archive (.zip, or a tar: .tar, .tar.gz, .tgz, .tar.bz2, .tar.xz)
holding ``<topic>.py`` files flat, in the
``assignments/<topic>/<topic>.py`` layout, or inside one top-level folder; a topic found at none
of those places is graded from its file nearest the top (``_find_deeper``), told in its note.
A folder of several students' folders is refused, with what to do. Staging copies the
Python files into a fresh flat folder that the worker may read, and nothing else: each topic's
module and the files beside it (helpers it imports), not the folders beside it (a package of
helpers), which the submission's note and the failed import name. A ``<topic>.ipynb`` stands
for a missing ``<topic>.py``: its code cells are staged as the module. ``grader check`` finds
the same files (``grader.student.local.TopicFinder``).
"""

from __future__ import annotations

import lzma
import os
import re
import shutil
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from grader.errors import GraderError
from grader.grading.notebook import NotebookModule, stage_notebook, unreadable
from grader.results.inert import file_name

MAX_ARCHIVE_BYTES = 64 * 1024 * 1024  # unpacked size of an archive
MAX_ARCHIVE_FILES = 2000
MAX_RATIO = 200  # compression ratio above which an entry is treated as a zip bomb
MAX_MODULE_BYTES = 2 * 1024 * 1024  # one Python file
SKIPPED = {"conftest.py", "setup.py", "__init__.py"}


class SubmissionError(GraderError):
    """The submission cannot be read; the message says why in one line."""


@dataclass(frozen=True)
class Staged:
    """A staged submission: ``root`` holds copies of its Python files, flat."""

    root: Path
    modules: dict[str, Path]  # topic -> staged module
    notebooks: dict[str, NotebookModule] = field(default_factory=dict)  # topics read from one
    notes: dict[str, list[str]] = field(default_factory=dict)  # topic -> what staging did
    # What became of the submission's files beyond the topics' own: "X graded as <topic>.py",
    # "unrecognised file X".
    files: list[str] = field(default_factory=list)
    # topic -> the file graded as it (a module, or a notebook), relative to the submission
    # (inside an archive: its path there; a lone file: its name).
    sources: dict[str, str] = field(default_factory=dict)
    # topic -> the folders of Python files beside its module, by the name a module would import
    # them as: not staged (``folder_not_staged``).
    folders: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def module(self, topic: str) -> Path | None:
        return self.modules.get(topic)


def stage(submission: Path, dest: Path, topics: list[str]) -> Staged:
    """Unpack or copy ``submission`` into ``dest`` and find the modules of ``topics``."""
    submission = Path(submission)
    if not submission.exists():
        raise SubmissionError(f"{submission} does not exist")
    dest.mkdir(parents=True, exist_ok=True)
    links: list[str] = []
    if submission.is_dir():
        source = submission
        links = links_in(source)
    elif is_archive(submission):
        source = dest / ".unpacked"
        links = safe_extract(submission, source)
    elif single_file_topic(submission, topics):  # one module or notebook named after a topic
        source = dest / ".single"
        source.mkdir()
        shutil.copyfile(submission, source / submission.name)
    elif archive_name(submission):  # named as one, but not one that can be read
        kind = "zip" if submission.name.lower().endswith(".zip") else "tar"
        raise SubmissionError(f"{submission.name} is not a readable {kind} archive: make it "
                              "again, or hand in the folder or the files themselves")
    else:
        raise SubmissionError(f"{submission} is neither a folder nor an archive (.zip, .tar, "
                              ".tar.gz), nor a file named after a topic (<topic>.py or "
                              "<topic>.ipynb)")
    root = dest / "student"
    root.mkdir(exist_ok=True)
    found = _find_modules(source, topics)
    found_notebooks = _find_modules(source, topics, ".ipynb")
    unplaced = [t for t in topics if t not in found and t not in found_notebooks]
    if unplaced and not found and not found_notebooks:
        _refuse_several_submissions(submission, source, topics)
    deeper, several = _find_deeper(source, unplaced)
    for topic, path in deeper.items():
        (found if path.suffix == ".py" else found_notebooks)[topic] = path
    modules: dict[str, Path] = {}
    helpers: set[Path] = set()  # the files staged beside the modules, for them to import
    folders: dict[str, tuple[str, ...]] = {}
    for topic, path in found.items():
        for sibling in path.parent.glob("*.py"):
            _copy_module(sibling, root)
            helpers.add(sibling.resolve())
        if path.name != f"{topic}.py":  # a browser's or an LMS's copy: graded under its name
            _copy_module(path, root, f"{topic}.py")
        modules[topic] = root / f"{topic}.py"
        folders[topic] = _folders_beside(path, set(found.values()))
    notebooks, notes = _stage_notebooks(found_notebooks, found, root)
    for topic, path in deeper.items():
        notes.setdefault(topic, []).insert(0, found_deeper(path.relative_to(source).as_posix(),
                                                           topic))
    for topic, paths in several.items():
        notes[topic] = [found_several([p.relative_to(source).as_posix() for p in paths], topic)]
    modules.update({topic: root / f"{topic}.py" for topic, m in notebooks.items()
                    if not m.unreadable})
    # An unreadable notebook is its topic's file all the same: told once, as unreadable.
    graded = [found[t] for t in found] + [found_notebooks[t] for t in notebooks]
    beside = {found[t].parent / f: f"{found[t].name}" for t in found for f in folders[t]}
    files = links_note(links) + file_notes(source, graded, topics, helpers, beside)
    sources = {t: p.relative_to(source).as_posix()
               for t, p in [*found.items(), *((t, found_notebooks[t]) for t in notebooks)]}
    if source is not submission:
        shutil.rmtree(source, ignore_errors=True)
    # File names need not be UTF-8: every line that quotes one is made writable here, once.
    return Staged(root, modules, notebooks,
                  {t: [file_name(n) for n in ns] for t, ns in notes.items()},
                  [file_name(f) for f in files], sources, folders)


def _folders_beside(module: Path, modules: set[Path]) -> tuple[str, ...]:
    """The folders beside ``module`` that hold Python files, and that a module could import by
    their name (a package of helpers): staging takes files, flat, so none of them is there."""
    out = []
    for entry in sorted(module.parent.iterdir()):
        if entry.is_dir() and not entry.is_symlink() and entry.name.isidentifier() and \
                entry.name != "__pycache__" and \
                any(p.suffix == ".py" and not _through_link(p, entry) for p in entry.rglob("*")) \
                and not any(entry in m.parents for m in modules):  # another topic's folder
            out.append(entry.name)
    return tuple(out)


def folder_not_staged(module: str, folder: str) -> str:
    """What a student reads where ``module`` (a file name) imports ``folder``, a folder of
    Python files beside it, which grading does not take."""
    return (f"{module} imports {folder}, a folder beside it: grading takes the Python files "
            f"beside {module}, not the folders there, so {folder} is missing when it is "
            f"graded. Put what {module} uses of it in {folder}.py, beside {module}")


def topic_not_handed_in(module: str, topic: str) -> str:
    """What a student reads where ``module`` (a file name) imports ``topic``, the module of
    another exercise of the course, which the submission does not hold."""
    return (f"{module} imports {topic}, your module of the course's {topic} exercise, which "
            f"this submission does not hold: hand in {topic}.py with {module}, in the same "
            "submission")


def links_in(source: Path) -> list[str]:
    """The symbolic links inside ``source`` (files or folders, at any depth, never followed),
    relative to it: staging reads none of them, and says so."""
    found = []
    for top, dirs, files in os.walk(source):  # os.walk does not enter linked folders
        for name in sorted(dirs + files):
            p = Path(top) / name
            if p.is_symlink():
                found.append(p.relative_to(source).as_posix())
        dirs[:] = sorted(d for d in dirs if not (Path(top) / d).is_symlink())
    return found


def _through_link(path: Path, source: Path) -> bool:
    """Whether ``path`` (inside ``source``) is a link or is reached through one."""
    try:
        parts = path.relative_to(source).parts
    except ValueError:
        return True
    current = source
    for part in parts:
        current = current / part
        if current.is_symlink():
            return True
    return False


LEFT_OUT = ".link-left-out"  # what a link put back points at: nothing


def put_back_links(dest: Path, names: list[str]) -> None:
    """Links an archive held (``safe_extract`` leaves them out), put back under ``dest`` where
    they were as links to nothing: where that folder is staged later (a submission sent to
    another machine), staging names them in the note as it does any link. A name that would
    leave ``dest`` is dropped; nothing is ever created through a link."""
    for name in names:
        parts = PurePosixPath(name.replace("\\", "/")).parts
        if not parts or parts[0] == "/" or ".." in parts:
            continue
        at = dest.joinpath(*parts)
        try:
            at.parent.mkdir(parents=True, exist_ok=True)  # a link there is no folder: refused
            os.symlink(LEFT_OUT, at)
        except OSError:
            continue


def links_note(links: list[str]) -> list[str]:
    """The note of a submission holding links (one line, the first few named)."""
    if not links:
        return []
    shown = ", ".join(links[:FILES_LISTED]) + (f" and {len(links) - FILES_LISTED} more"
                                               if len(links) > FILES_LISTED else "")
    return [f"symbolic links are not followed: {shown} (submit the files themselves)"]


def single_file_topic(path: Path, topics: list[str]) -> str | None:
    """The topic a lone ``<topic>.py`` or ``<topic>.ipynb`` (or a browser's copy of one) is."""
    if path.suffix not in (".py", ".ipynb") or not path.is_file() or path.is_symlink():
        return None
    topic = _topic_of(path, topics)
    return topic if topic in topics else None


def submitted_topics(submission: Path, topics: list[str]) -> set[str]:
    """The topics of which ``submission`` (a folder, a .zip or one file) holds a module or a
    notebook, read from its files' names without staging or unpacking it. A file of a topic's
    name (or a browser's copy of one) anywhere in it counts, so these are never fewer than the
    topics ``stage`` finds; a folder or archive too large to list counts as holding every topic.
    For a caller that starts only what the topics graded need (``Engine(topics=...)``)."""
    submission = Path(submission)
    names: list[str] = []
    if submission.is_dir():
        for _top, dirs, files in os.walk(submission):  # linked folders are not entered
            names += files
            if len(names) > MAX_ARCHIVE_FILES:
                return set(topics)
    elif is_archive(submission):
        try:
            names = [PurePosixPath(n.replace("\\", "/")).name for n in _archive_names(submission)]
        except SubmissionError:
            return set(topics)  # too many to list, as a folder too large to list
        except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError, ValueError, zlib.error,
                lzma.LZMAError):
            return set()  # unreadable: staging says why, and grades nothing
    else:
        return {t} if (t := single_file_topic(submission, topics)) else set()
    return {t for t in topics for n in names
            if any(_copy_number(n, t, suffix) is not None for suffix in (".py", ".ipynb"))}


# A student repository as ``grader release`` writes it: the files it ships, beside the topics'
# own, and what working in it leaves behind (its .gitignore's). Relative to the repository.
RELEASE_FILES = ("pyproject.toml", "README.md", "course.toml", "assignments/manifest.json")
RELEASE_FOLDERS = ("grader", "templates", "requirements", "grader-report")
RELEASE_TOPIC_FILES = ("README.md", "test_public.py", "grading.toml")


def _release_roots(source: Path) -> list[Path]:
    """The folders of ``source`` (it, or its one top folder) laid out as a released repository."""
    entries = [p for p in source.iterdir() if not p.name.startswith((".", "__MACOSX"))]
    bases = [source] + ([entries[0]] if len(entries) == 1 and entries[0].is_dir() and
                        not entries[0].is_symlink() else [])
    return [b for b in bases if (b / "assignments" / "manifest.json").is_file() or
            (b / "assignments").is_dir() and (b / "grader").is_dir()]


def _release_own(parts: tuple[str, ...]) -> bool:
    """Whether a file at ``parts`` of a released repository is the release's own (or another
    topic's module, with a topic's name in its own folder)."""
    rel = "/".join(parts)
    if rel in RELEASE_FILES or parts[0] in RELEASE_FOLDERS or parts[0].endswith(".egg-info"):
        return len(parts) > 1 or rel in RELEASE_FILES
    if len(parts) == 3 and parts[0] == "assignments":
        return parts[2] in RELEASE_TOPIC_FILES or parts[2] in (f"{parts[1]}.py",
                                                               f"{parts[1]}.ipynb")
    return False


FILES_LISTED = 20  # file notes per submission; the rest are counted


def file_notes(source: Path, graded: list[Path], topics: list[str],
               helpers: AbstractSet[Path] = frozenset(),
               folders: dict[Path, str] | None = None) -> list[str]:
    """Every file of the submission that is not graded under its own name, said once: graded
    as a topic under another name, or not recognised as any topic's. ``helpers``: files staged
    beside the modules for them to import (nothing to say of them); ``folders``: the folders
    of Python files beside a module (by the module's name), said once each."""
    graded_set = {p.resolve() for p in graded}
    graded_topics = {_topic_of(p, topics) for p in graded}
    out = [f"{p.relative_to(source).as_posix()} graded as {_topic_of(p, topics)}.py"
           for p in graded if p.stem not in topics]
    unrecognised = []
    releases = _release_roots(source)
    said: set[Path] = set()
    for p in sorted(source.rglob("*")):
        parts = p.relative_to(source).parts
        if any(x.startswith(".") or x in ("__MACOSX", "__pycache__") for x in parts) or \
                p.is_symlink() or not p.is_file() or p.resolve() in graded_set:
            continue
        folder = next((f for f in (folders or {}) if f in p.parents), None)
        if folder is not None:
            if folder not in said:
                said.add(folder)
                unrecognised.append(
                    f"{folder.relative_to(source).as_posix()}/ not graded: a folder, and grading "
                    f"takes the Python files beside {(folders or {})[folder]}, not folders")
            continue
        if p.resolve() in helpers and p.stem.isidentifier() and \
                not any(_copy_number(p.name, t, p.suffix) is not None for t in topics):
            continue  # staged for the modules to import
        if any(r in p.parents and _release_own(p.relative_to(r).parts) for r in releases):
            continue  # the released repository's own files: nothing to say about them
        rel = p.relative_to(source).as_posix()
        topic = _topic_of(p, topics)
        unrecognised.append(f"{rel} not graded: {topic}{p.suffix} was graded instead"
                            if topic in graded_topics else
                            f"{rel} not graded: several files could be {topic}{p.suffix}"
                            if topic in topics else f"unrecognised file {rel}")
    out += unrecognised[:FILES_LISTED]
    if len(unrecognised) > FILES_LISTED:
        out.append(f"and {len(unrecognised) - FILES_LISTED} more unrecognised files")
    return out


def _topic_of(path: Path, topics: list[str]) -> str:
    return next((t for t in topics if _copy_number(path.name, t, path.suffix) is not None),
                path.stem)


_COPY = r"(?: \((\d+)\)|-(\d+))"  # "x (1).py" from a browser, "x-1.py" from Canvas or a browser


def _copy_number(name: str, topic: str, suffix: str) -> int | None:
    """0 for ``<topic><suffix>``, n for a copy ``<topic> (n)<suffix>`` or ``<topic>-n<suffix>``;
    in any case of letters ("Linear_Regression.py", saved where names ignore it)."""
    if name.lower() == f"{topic}{suffix}".lower():
        return 0
    m = re.fullmatch(re.escape(topic) + _COPY + re.escape(suffix), name, re.IGNORECASE)
    return int(m[1] or m[2]) if m else None


def _stage_notebooks(found: dict[str, Path], modules: dict[str, Path], root: Path
                     ) -> tuple[dict[str, NotebookModule], dict[str, list[str]]]:
    """Stage the notebook of each topic that has no .py; say which file was graded where both."""
    staged: dict[str, NotebookModule] = {}
    notes: dict[str, list[str]] = {}
    for topic, path in found.items():
        if topic in modules:
            notes[topic] = [f"both {topic}.py and {path.name} were submitted: graded {topic}.py "
                            f"and ignored the notebook (remove {topic}.py to have the notebook "
                            "graded)"]
            continue
        for sibling in path.parent.glob("*.py"):  # helper modules next to the notebook
            _copy_module(sibling, root)
        try:
            staged[topic] = stage_notebook(path, root / f"{topic}.py")
        except ValueError as exc:
            staged[topic] = NotebookModule(path.name, "", (), unreadable=str(exc))
            notes[topic] = [unreadable(str(exc))]
            continue
        notes[topic] = staged[topic].notes
    return staged, notes


def _find_modules(source: Path, topics: list[str], suffix: str = ".py") -> dict[str, Path]:
    bases = [source]
    entries = [p for p in source.iterdir() if not p.name.startswith((".", "__MACOSX"))]
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
        bases.append(entries[0])
    found: dict[str, Path] = {}
    for topic in topics:
        for base in bases:
            for folder in (base, base / "assignments" / topic, base / topic):
                if _through_link(folder, source):  # a linked folder is someone else's files
                    continue
                exact = folder / f"{topic}{suffix}"
                if exact.is_file() and not exact.is_symlink():
                    found[topic] = exact
                    break
                # No file of the topic's own name: that name in other letters' case, else its
                # newest copy (the highest number), stands in.
                copies = sorted(((n == 0, n, p) for p in (folder.iterdir() if folder.is_dir()
                                                          else ())
                                 if (n := _copy_number(p.name, topic, suffix)) is not None and
                                 p.is_file() and not p.is_symlink()), reverse=True)
                if copies:
                    found[topic] = copies[0][2]
                    break
            if topic in found:
                break
    return found


DEEPEST = 4  # folders down to which a topic's file is looked for where it is nowhere usual
# Folders that hold other people's Python files, not the student's own: a virtual environment's
# packages (torch's own transformer.py), a macOS archive's resource forks, bytecode.
NOT_THEIRS = {"site-packages", "dist-packages", "node_modules", "__pycache__", "__MACOSX"}


def _find_deeper(source: Path, topics: list[str]) -> tuple[dict[str, Path], dict[str, list[Path]]]:
    """Each of ``topics`` (found nowhere usual) whose file lies elsewhere in ``source``, at most
    ``DEEPEST`` folders down, outside hidden folders, Python environments and a released
    repository's own folders: the one nearest the top, where one folder holds the nearest (its
    module before its notebook, each by its own name before a copy's); and the topics whose
    nearest files lie in several folders, with those files, none of which is graded."""
    if not topics:
        return {}, {}
    releases = _release_roots(source)
    nearest: dict[str, tuple[int, list[tuple[tuple[int, bool, bool, int], Path]]]] = {}
    for top, dirs, files in os.walk(source):  # linked folders are not entered
        here = Path(top)
        depth = len(here.relative_to(source).parts)
        dirs[:] = sorted(d for d in dirs if depth < DEEPEST and not d.startswith(".") and
                         d not in NOT_THEIRS and not (here / d).is_symlink() and
                         not (here / d / "pyvenv.cfg").exists() and
                         not any(here == r and d in RELEASE_FOLDERS for r in releases))
        for name in files:
            for rank, suffix in enumerate((".py", ".ipynb")):
                for topic in topics:
                    number = _copy_number(name, topic, suffix)
                    if number is None or (here / name).is_symlink():
                        continue
                    # module, own name (as spelt, then in other case), newest copy
                    key = (rank, number != 0, name != topic + suffix, -number)
                    best = nearest.get(topic)
                    if best is None or depth < best[0]:
                        nearest[topic] = (depth, [(key, here / name)])
                    elif depth == best[0]:
                        best[1].append((key, here / name))
    found: dict[str, Path] = {}
    several: dict[str, list[Path]] = {}
    for topic, (_, candidates) in nearest.items():
        if len({p.parent for _, p in candidates}) == 1:
            found[topic] = min(candidates)[1]
        else:
            several[topic] = sorted(p for _, p in candidates)
    return found, several


def found_deeper(path: str, topic: str) -> str:
    """The note of a topic whose file was found deeper than the usual places."""
    return (f"graded {path}, the file of this topic nearest the top of the submission: none "
            f"lay where grading looks first (at its top, in assignments/{topic}/ or in one top "
            "folder)")


SEVERAL = "not graded: "  # how found_several's note begins


def found_several(paths: list[str], topic: str) -> str:
    """The note of a topic whose nearest files lie in several folders: none is graded."""
    shown = ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
    return (f"{SEVERAL}none of this topic's files lay where grading looks first (at the top "
            f"of the submission, in assignments/{topic}/ or in one top folder), and the "
            f"{len(paths)} nearest lie in different folders ({shown}): put the one to grade at "
            "the top")


def _refuse_several_submissions(submission: Path, source: Path, topics: list[str]) -> None:
    """Raise where ``source`` holds no topic's file where grading looks, but two or more
    folders, or two or more archives, at its top each hold a file of the same topic: a class,
    or several versions, handed to ``grader grade`` as one submission. (Folders of different
    topics are one student's work, graded; so is one folder beside an archive, most likely the
    same work packed.)"""
    holders = [(e, submitted_topics(e, topics)) for e in sorted(source.iterdir())
               if not e.name.startswith((".", "__MACOSX")) and not e.is_symlink() and
               (e.is_dir() or e.is_file() and is_archive(e))]
    for kind in (True, False):  # folders, then archives
        if any(sum(1 for e, held in holders if t in held and e.is_dir() == kind) >= 2
               for t in topics):
            names = [e.name for e, held in holders if held]
            shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more"
                                            if len(names) > 4 else "")
            raise SubmissionError(
                f"{submission.name} holds no topic's module where grading looks (at its top, "
                f"in assignments/<topic>/ or in one top folder), but {len(names)} folders or "
                f"archives that hold modules, several of the same topic ({shown}): which is to "
                "be graded? Hand in one of them (a class of them is graded with `grader batch`)")


def _copy_module(path: Path, root: Path, name: str = "") -> None:
    name = name or path.name
    if name in SKIPPED or name.startswith("test_") or path.is_symlink():
        return
    if path.stat().st_size > MAX_MODULE_BYTES:
        raise SubmissionError(f"{name} is larger than {MAX_MODULE_BYTES // 2**20} MB")
    target = root / name
    if not target.exists():
        shutil.copyfile(path, target)


# The names an archive that ``safe_extract`` unpacks may have: a zip, or a tar (compressed with
# gzip, bzip2 or xz, or not at all).
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")


def archive_name(path: Path) -> bool:
    """Whether ``path``'s name is an archive's (``ARCHIVE_SUFFIXES``), whatever it holds."""
    return path.name.lower().endswith(ARCHIVE_SUFFIXES)


def is_archive(path: Path) -> bool:
    """Whether ``path`` is a file ``safe_extract`` reads: a zip, or a tar by its contents (a
    tar's name must also be one: a file of any name can begin as a tar's header does)."""
    if not path.is_file():
        return False
    if zipfile.is_zipfile(path):
        return True
    if not archive_name(path):
        return False
    try:
        return tarfile.is_tarfile(path)
    except (OSError, EOFError, ValueError, tarfile.TarError):
        return False


def _archive_names(archive: Path) -> list[str]:
    """The names of an archive's entries, read without unpacking it; ``SubmissionError`` past
    ``MAX_ARCHIVE_FILES`` of them."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            return zf.namelist()
    names = []
    with tarfile.open(archive, "r:*") as tf:
        for member in tf:
            names.append(member.name)
            if len(names) > MAX_ARCHIVE_FILES:
                raise SubmissionError(f"{archive.name} holds more than {MAX_ARCHIVE_FILES} entries")
    return names


def _outside(base: Path, name: str) -> bool:
    """Whether an archive's entry ``name`` would be written outside ``base``."""
    target = (base / name).resolve()
    return name.startswith(("/", "\\")) or ".." in Path(name).parts or \
        not (target == base or base in target.parents)


def safe_extract(archive: Path, dest: Path, *, max_bytes: int = MAX_ARCHIVE_BYTES,
                 max_files: int = MAX_ARCHIVE_FILES) -> list[str]:
    """Extract a zip or a tar refusing traversal, bombs and oversized or overfull archives;
    symbolic links (and a tar's hard links, devices and pipes) are left out, and the links
    returned (their names in the archive) for the submission's note.

    The limits default to one submission's; a whole class's export is unpacked with larger ones.
    """
    dest.mkdir(parents=True, exist_ok=True)
    base = dest.resolve()
    if not zipfile.is_zipfile(archive) and archive_name(archive):
        return _extract_tar(archive, base, max_bytes, max_files)
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise SubmissionError(f"{archive.name} is not a readable zip archive ({exc})") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > max_files:
            raise SubmissionError(f"{archive.name} holds {len(infos)} entries, more than "
                                  f"{max_files}")
        total = 0
        links = [i.filename for i in infos if stat.S_ISLNK(i.external_attr >> 16)]
        infos = [i for i in infos if not stat.S_ISLNK(i.external_attr >> 16)]
        for info in infos:
            name = info.filename
            if _outside(base, name):
                raise SubmissionError(f"{archive.name} contains a path outside the archive ({name})")
            total += info.file_size
            if total > max_bytes:
                raise SubmissionError(f"{archive.name} unpacks to more than "
                                      f"{max_bytes // 2**20} MB")
            if info.compress_size and info.file_size / info.compress_size > MAX_RATIO \
                    and info.file_size > 1024 * 1024:
                raise SubmissionError(f"{archive.name} looks like a zip bomb ({name} expands "
                                      f"{info.file_size // max(info.compress_size, 1)}×)")
        for info in infos:
            target = base / info.filename
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            written = 0
            try:
                with zf.open(info) as src, open(target, "wb") as out:
                    while chunk := src.read(1 << 16):
                        written += len(chunk)
                        if written > info.file_size:  # the header lied about the size
                            raise SubmissionError(f"{archive.name}: {info.filename} is larger "
                                                  "than its header says")
                        out.write(chunk)
            except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError,
                    ValueError) as exc:
                raise SubmissionError(f"{archive.name}: cannot extract {info.filename} "
                                      f"({exc})") from None
            os.chmod(target, 0o644)
    return links


def _extract_tar(archive: Path, base: Path, max_bytes: int, max_files: int) -> list[str]:
    """``safe_extract`` for a tar: its entries read one at a time, each checked before any byte
    of it is written, so that a compressed stream is never decompressed past the limits."""
    links: list[str] = []
    count = total = 0
    try:
        with tarfile.open(archive, "r:*") as tf:
            for member in tf:
                count += 1
                if count > max_files:
                    raise SubmissionError(f"{archive.name} holds more than {max_files} entries")
                name = member.name
                if _outside(base, name):
                    raise SubmissionError(f"{archive.name} contains a path outside the archive "
                                          f"({name})")
                if member.issym() or member.islnk():
                    links.append(name)
                    continue
                target = base / name
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                if not member.isfile():  # a device, a pipe: nothing to grade
                    continue
                total += member.size
                if total > max_bytes:
                    raise SubmissionError(f"{archive.name} unpacks to more than "
                                          f"{max_bytes // 2**20} MB")
                target.parent.mkdir(parents=True, exist_ok=True)
                src = tf.extractfile(member)
                if src is None:
                    continue
                with src, open(target, "wb") as out:
                    while chunk := src.read(1 << 16):
                        out.write(chunk)
                os.chmod(target, 0o644)
    except SubmissionError:
        raise
    except (tarfile.TarError, OSError, EOFError, ValueError, zlib.error, lzma.LZMAError) as exc:
        raise SubmissionError(f"{archive.name} is not a readable tar archive ({exc})") from None
    return links


def is_untouched_stub(module: Path | None, stub: Path) -> bool:
    """Whether a handed-in module is the topic's stub as released (line endings and trailing
    blanks aside): the student has not started, which a score of 0 alone does not say."""
    if module is None or not stub.is_file():
        return False

    def lines(p: Path) -> list[str]:
        text = p.read_bytes()[:1_000_000].decode("utf-8", errors="replace")
        return [line.rstrip() for line in text.splitlines()]

    try:
        mine, given = lines(module), lines(stub)
    except OSError:
        return False
    while mine and not mine[-1]:
        mine.pop()
    while given and not given[-1]:
        given.pop()
    return mine == given
