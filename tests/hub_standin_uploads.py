"""The Hub's write API on top of the stand-in (tests/hub_standin.py), for the publishing tests.

It answers what huggingface_hub 2.4's `create_repo`, `create_commit`, `upload_folder` and
`list_repo_files` send with hf_xet switched off (`HF_HUB_DISABLE_XET`), so that their large files
take the LFS path: `POST /api/repos/create` (a new repo gets a first commit of a .gitattributes
and a README, as on the Hub), `POST /api/validate-yaml` (a Space card needs a known `sdk`),
`POST /api/{type}s/{repo}/preupload/{rev}` (which files go to large-file storage: over 10 MiB,
binary, or named by an LFS rule of the repo's .gitattributes, as the Hub decides), the LFS batch
API `POST /{repo}.git/info/lfs/objects/batch` with basic transfers (`PUT` the object, `POST`
verify), the ndjson `POST /api/{type}s/{repo}/commit/{rev}`, and `GET .../tree/{rev}`. Like the
Hub, it refuses a commit that sends a file over 10 MiB, or a binary file, as a regular file, or
names an LFS object that was never uploaded. Writes need a token of `tokens` (token -> user), and
a user writes only in their own namespace. The Xet storage protocol (hf_xet) is not stood in for.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
from urllib.parse import unquote

import yaml

from tests.hub_standin import HubStandIn, _error, git_blob_sha

LARGE = 10 * 1024 * 1024  # the Hub's limit for a file outside large-file storage
SDKS = ("gradio", "docker", "static")
FIRST_GITATTRIBUTES = b"*.bin filter=lfs diff=lfs merge=lfs -text\n"  # a few of the Hub's rules
FIRST_README = b"---\ntitle: New\nsdk: gradio\n---\n"

Answer = tuple[int, dict[str, str], bytes]


class HubUploadStandIn(HubStandIn):
    """The stand-in with repo creation, uploads and commits; what was pushed stays inspectable."""

    def __init__(self) -> None:
        super().__init__()
        self.tokens: dict[str, str] = {}  # token -> user name
        self.repos: dict[str, dict] = {}  # repo key -> the create_repo payload
        self.objects: dict[str, bytes] = {}  # LFS objects by sha256
        self.stored_as: dict[str, dict[str, str]] = {}  # repo key -> path -> "regular" | "lfs"
        self.pushes: list[dict] = []  # each commit: repo, summary, files (path -> how), deleted

    def head(self, key: str) -> dict[str, bytes]:
        """The files on `main` of the repo `key` (`spaces/user/name` for a Space)."""
        return self.commits[key][self.branches[key]["main"]]

    # -- routing -------------------------------------------------------------------------------

    def api(self, method: str, path: str, query: str, token: str | None, body: bytes) -> Answer:
        parts = [unquote(part) for part in path.strip("/").split("/")]
        if method == "PUT" and parts[0] == "lfs-objects":
            return self._store_object(parts[1], body)
        if method == "POST" and parts[0] == "lfs-verify":
            return self._verify_object(parts[1], json.loads(body))
        if method == "POST" and parts[:3] == ["api", "repos", "create"]:
            return self._create(json.loads(body), token)
        if method == "POST" and parts[:2] == ["api", "validate-yaml"]:
            return self._validate_yaml(json.loads(body))
        if len(parts) >= 6 and parts[0] == "api" and parts[4] in ("preupload", "commit", "tree"):
            key = _key(parts[1].removesuffix("s"), parts[2], parts[3])
            if key not in self.repos:
                return _error(404, "RepoNotFound", "Repository not found")
            if parts[4] == "tree" and method == "GET":
                return self._tree(key)
            if self._writer(token, parts[2]) is None:
                return _error(401, None, "Invalid credentials in Authorization header")
            if parts[4] == "preupload":
                return self._preupload(key, json.loads(body))
            return self._commit(key, body)
        if method == "POST" and path.endswith(".git/info/lfs/objects/batch"):
            return self._lfs_batch(json.loads(body), token)
        return super().api(method, path, query, token, body)

    def _writer(self, token: str | None, namespace: str) -> str | None:
        """The user a token belongs to, if it may write in `namespace`."""
        user = self.tokens.get(token or "")
        return user if user == namespace else None

    # -- repositories ----------------------------------------------------------------------------

    def _create(self, payload: dict, token: str | None) -> Answer:
        user = self.tokens.get(token or "")
        if user is None:
            return _error(401, None, "Invalid credentials in Authorization header")
        namespace = payload.get("organization") or user
        if namespace != user:
            return _error(403, None, f"You don't have the rights to create a repo in {namespace}")
        kind = payload.get("type") or "model"
        if kind == "space" and payload.get("sdk") not in SDKS:
            return _error(400, None, "A Space needs an sdk")
        key = _key(kind, namespace, payload["name"])
        url = f"{self.url}/{key}"
        if key in self.repos:
            return 409, {"Content-Type": "application/json"}, _json({"error": "exists", "url": url})
        self.repos[key] = payload
        self.commit(key, {".gitattributes": FIRST_GITATTRIBUTES, "README.md": FIRST_README})
        self.stored_as[key] = {".gitattributes": "regular", "README.md": "regular"}
        return 200, {"Content-Type": "application/json"}, _json({"url": url, "name": key})

    def _validate_yaml(self, payload: dict) -> Answer:
        text = payload["content"]
        card = yaml.safe_load(text.split("---")[1]) if text.startswith("---") else {}
        errors = []
        if payload.get("repoType") == "space" and (card or {}).get("sdk") not in SDKS:
            errors.append({"message": f'"sdk" must be one of {", ".join(SDKS)}'})
        status = 400 if errors else 200
        return status, {"Content-Type": "application/json"}, _json({"errors": errors})

    def _tree(self, key: str) -> Answer:
        """Every file on main (the listing is always recursive here)."""
        entries = []
        for path, content in sorted(self.head(key).items()):
            entry = {"type": "file", "path": path, "size": len(content)}
            if self.stored_as[key].get(path) == "lfs":
                sha = hashlib.sha256(content).hexdigest()
                entry |= {"oid": git_blob_sha(b"pointer " + sha.encode()),
                          "lfs": {"oid": sha, "size": len(content), "pointerSize": 130}}
            else:
                entry["oid"] = git_blob_sha(content)
            entries.append(entry)
        return 200, {"Content-Type": "application/json"}, _json(entries)

    # -- uploads ---------------------------------------------------------------------------------

    def _preupload(self, key: str, payload: dict) -> Answer:
        rules = _lfs_rules(self.head(key).get(".gitattributes", b""))
        files = []
        for item in payload["files"]:
            sample = base64.b64decode(item["sample"])
            lfs = item["size"] >= LARGE or b"\0" in sample or _matches(item["path"], rules)
            mode = "lfs" if lfs else "regular"
            files.append({"path": item["path"], "uploadMode": mode, "shouldIgnore": False})
        return 200, {"Content-Type": "application/json"}, _json({"files": files})

    def _lfs_batch(self, payload: dict, token: str | None) -> Answer:
        if token not in self.tokens:
            return _error(401, None, "Invalid credentials in Authorization header")
        objects = []
        for item in payload["objects"]:
            answer = {"oid": item["oid"], "size": item["size"]}
            if item["oid"] not in self.objects:  # already stored: no actions, nothing to send
                answer["actions"] = {
                    "upload": {"href": f"{self.url}/lfs-objects/{item['oid']}"},
                    "verify": {"href": f"{self.url}/lfs-verify/{item['oid']}"},
                }
            objects.append(answer)
        body = _json({"transfer": "basic", "objects": objects})
        return 200, {"Content-Type": "application/vnd.git-lfs+json"}, body

    def _store_object(self, oid: str, body: bytes) -> Answer:
        if hashlib.sha256(body).hexdigest() != oid:
            return _error(400, None, "The content does not match its sha256")
        self.objects[oid] = body
        return 200, {}, b""

    def _verify_object(self, oid: str, payload: dict) -> Answer:
        if oid not in self.objects or len(self.objects[oid]) != payload["size"]:
            return _error(404, None, "Object not found")
        return 200, {}, b""

    def _commit(self, key: str, body: bytes) -> Answer:
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        files, stored_as = dict(self.head(key)), dict(self.stored_as[key])
        push = {"repo": key, "summary": lines[0]["value"]["summary"], "files": {}, "deleted": []}
        for line in lines[1:]:
            value = line["value"]
            path = value["path"]
            if line["key"] == "file":
                content = base64.b64decode(value["content"])
                if len(content) > LARGE or b"\0" in content[:512]:
                    return _error(400, None, f"Your push was rejected: {path} must go through LFS")
                files[path], stored_as[path] = content, "regular"
            elif line["key"] == "lfsFile":
                if value["oid"] not in self.objects:
                    return _error(422, None, f"{path}: its LFS object was never uploaded")
                files[path], stored_as[path] = self.objects[value["oid"]], "lfs"
            elif line["key"] in ("deletedFile", "deletedFolder"):
                gone = [name for name in files if name == path or name.startswith(path + "/")]
                for name in gone:
                    del files[name], stored_as[name]
                push["deleted"] += gone
                continue
            push["files"][path] = stored_as[path]
        sha = self.commit(key, files)
        self.stored_as[key] = stored_as
        self.pushes.append(push)
        answer = {"commitUrl": f"{self.url}/{key}/commit/{sha}", "commitOid": sha}
        return 200, {"Content-Type": "application/json"}, _json(answer | {"success": True})


def _key(kind: str, namespace: str, name: str) -> str:
    """How the Hub's URLs name a repo: `user/name` for a model, `spaces/user/name` for a Space."""
    return f"{namespace}/{name}" if kind == "model" else f"{kind}s/{namespace}/{name}"


def _lfs_rules(gitattributes: bytes) -> list[str]:
    """The patterns a .gitattributes sends through LFS (`filter=lfs`)."""
    lines = gitattributes.decode().splitlines()
    return [line.split()[0] for line in lines if "filter=lfs" in line.split()[1:]]


def _matches(path: str, patterns: list[str]) -> bool:
    name = path.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatch(path if "/" in p else name, p) for p in patterns)


def _json(value: object) -> bytes:
    return json.dumps(value).encode()
