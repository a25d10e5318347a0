"""A local stand-in for the Hub endpoints huggingface_hub calls in `create_repo` + `upload_folder`.

huggingface_hub 2.x uploads through Xet when `hf_xet` is installed (a content-addressed storage
protocol of its own, spoken by hf_xet's Rust client); with HF_HUB_DISABLE_XET=1 it takes the git/LFS
commit path below, which is what this stand-in answers.

Only dataset repos, one branch. Endpoints (as in hf_api.py, _commit_api.py and lfs.py):

    POST /api/repos/create                          create_repo
    PUT  /api/datasets/{repo}/settings              update_repo_settings (visibility)
    POST /api/validate-yaml                         create_commit checks README.md's metadata
    GET  /api/datasets/{repo}/tree/{rev}            list_repo_files, for upload_folder(delete_patterns)
    POST /api/datasets/{repo}/preupload/{rev}       regular vs LFS upload mode per file
    POST /datasets/{repo}.git/info/lfs/objects/batch  LFS batch API: answers with the basic transfer
    PUT  /lfs/{oid}   POST /lfs/verify              where the basic transfer puts and verifies blobs
    POST /api/datasets/{repo}/commit/{rev}          the commit itself (ndjson)

The repo's files at HEAD live under `root/datasets/{org}/{name}/`, so tests read them directly.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

import yaml

_REPO = r"(?P<repo>[\w.-]+/[\w.-]+)"
LFS_SUFFIXES = (".parquet", ".arrow", ".bin")


class HubStandIn:
    """Run with `with HubStandIn(root, token) as hub:`; `hub.url` is the HF_ENDPOINT to use."""

    def __init__(self, root: Path, token: str, port: int = 0):
        self.root, self.token = Path(root), token
        self.private: dict[str, bool] = {}
        self.commits: list[dict] = []  # {"repo", "summary", "ops": [(key, path)]}
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> "HubStandIn":
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def repo_dir(self, repo_id: str) -> Path:
        return self.root / "datasets" / repo_id

    def seed(self, repo_id: str, path: str, content: bytes) -> None:
        """Put a file in a repo as an earlier commit would have (creates the repo)."""
        target = self.repo_dir(repo_id) / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        self.private.setdefault(repo_id, False)

    def files(self, repo_id: str) -> list[str]:
        base = self.repo_dir(repo_id)
        return sorted(p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file())

    # --- endpoint logic: each returns (status, json body) ---

    def create(self, body: dict) -> tuple[int, dict]:
        if body.get("type") != "dataset":
            return 400, {"error": "this stand-in hosts dataset repos only"}
        repo_id = f"{body.get('organization')}/{body['name']}"
        if self.repo_dir(repo_id).is_dir():
            return 409, {"error": "You already created this dataset repo", "url": self._repo_url(repo_id)}
        self.repo_dir(repo_id).mkdir(parents=True)
        self.private[repo_id] = body.get("visibility") == "private" or bool(body.get("private"))
        return 200, {"url": self._repo_url(repo_id)}

    def settings(self, repo_id: str, body: dict) -> tuple[int, dict]:
        if not self.repo_dir(repo_id).is_dir():
            return 404, {"error": "Repository not found"}
        if "visibility" in body:
            self.private[repo_id] = body["visibility"] == "private"
        elif "private" in body:
            self.private[repo_id] = bool(body["private"])
        return 200, {}

    def validate_yaml(self, body: dict) -> tuple[int, dict]:
        match = re.match(r"^---\n(.*?)\n---\n", body.get("content", ""), re.S)
        try:
            meta = yaml.safe_load(match.group(1)) if match else {}
        except yaml.YAMLError as exc:
            return 400, {"errors": [{"message": f"invalid YAML: {exc}"}], "warnings": []}
        if not isinstance(meta, dict):
            return 400, {"errors": [{"message": "metadata must be a mapping"}], "warnings": []}
        return 200, {"errors": [], "warnings": []}

    def tree(self, repo_id: str) -> tuple[int, list | dict]:
        if not self.repo_dir(repo_id).is_dir():
            return 404, {"error": "Repository not found"}
        base = self.repo_dir(repo_id)
        entries = []
        for path in sorted(base.rglob("*")):
            rel = path.relative_to(base).as_posix()
            if path.is_dir():
                entries.append({"type": "directory", "oid": _sha1(rel.encode()), "path": rel})
            else:
                entries.append({"type": "file", "oid": _sha1(path.read_bytes()), "size": path.stat().st_size, "path": rel})
        return 200, entries

    def preupload(self, repo_id: str, body: dict) -> tuple[int, dict]:
        if not self.repo_dir(repo_id).is_dir():
            return 404, {"error": "Repository not found"}
        files = [
            {
                "path": f["path"],
                "uploadMode": "lfs" if f["path"].endswith(LFS_SUFFIXES) else "regular",
                "shouldIgnore": False,
                "oid": None,
            }
            for f in body["files"]
        ]
        return 200, {"files": files}

    def lfs_batch(self, body: dict) -> tuple[int, dict]:
        objects = []
        for obj in body["objects"]:
            entry = {"oid": obj["oid"], "size": obj["size"], "authenticated": True}
            if not self._blob(obj["oid"]).is_file():
                entry["actions"] = {
                    "upload": {"href": f"{self.url}/lfs/{obj['oid']}"},
                    "verify": {"href": f"{self.url}/lfs/verify"},
                }
            objects.append(entry)
        return 200, {"transfer": "basic", "objects": objects}

    def lfs_put(self, oid: str, data: bytes) -> tuple[int, dict]:
        if hashlib.sha256(data).hexdigest() != oid:
            return 400, {"error": "content does not match its sha256 oid"}
        self._blob(oid).parent.mkdir(parents=True, exist_ok=True)
        self._blob(oid).write_bytes(data)
        return 200, {}

    def lfs_verify(self, body: dict) -> tuple[int, dict]:
        blob = self._blob(body["oid"])
        if not blob.is_file() or blob.stat().st_size != body["size"]:
            return 404, {"error": "object not uploaded"}
        return 200, {"message": "ok"}

    def commit(self, repo_id: str, lines: list[dict]) -> tuple[int, dict]:
        if not self.repo_dir(repo_id).is_dir():
            return 404, {"error": "Repository not found"}
        base, ops, header = self.repo_dir(repo_id), [], {}
        for line in lines:  # validate everything first: a commit applies whole or not at all
            key, value = line["key"], line["value"]
            if key == "header":
                header = value
            elif key == "lfsFile" and not self._blob(value["oid"]).is_file():
                return 422, {"error": f"LFS object {value['oid']} for {value['path']} was never uploaded"}
            elif key == "deletedFile" and not (base / value["path"]).is_file():
                return 404, {"error": f"A file with this name doesn't exist: {value['path']}"}
            elif key not in ("file", "lfsFile", "deletedFile", "deletedFolder"):
                return 400, {"error": f"unknown commit operation {key!r}"}
            if key != "header":
                ops.append((key, value))
        with self._lock:
            for key, value in ops:
                target = base / value["path"]
                if key == "file":
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(base64.b64decode(value["content"]))
                elif key == "lfsFile":
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(self._blob(value["oid"]), target)
                elif key == "deletedFile":
                    target.unlink()
                else:
                    shutil.rmtree(target, ignore_errors=True)
            oid = _sha1(json.dumps([header, [(k, v.get("path")) for k, v in ops], len(self.commits)]).encode())
            self.commits.append({"repo": repo_id, "summary": header.get("summary"), "ops": [(k, v["path"]) for k, v in ops]})
        return 200, {"commitUrl": f"{self._repo_url(repo_id)}/commit/{oid}", "commitOid": oid, "pullRequestUrl": None}

    def _repo_url(self, repo_id: str) -> str:
        return f"{self.url}/datasets/{repo_id}"

    def _blob(self, oid: str) -> Path:
        return self.root / ".lfs" / oid


def _sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def _handler(hub: HubStandIn):
    routes = [
        ("POST", r"/api/repos/create", lambda m, b: hub.create(json.loads(b))),
        ("PUT", rf"/api/datasets/{_REPO}/settings", lambda m, b: hub.settings(m["repo"], json.loads(b))),
        ("POST", r"/api/validate-yaml", lambda m, b: hub.validate_yaml(json.loads(b))),
        ("GET", rf"/api/datasets/{_REPO}/tree/[^/]+(/.*)?", lambda m, b: hub.tree(m["repo"])),
        ("POST", rf"/api/datasets/{_REPO}/preupload/[^/]+", lambda m, b: hub.preupload(m["repo"], json.loads(b))),
        ("POST", rf"/datasets/{_REPO}\.git/info/lfs/objects/batch", lambda m, b: hub.lfs_batch(json.loads(b))),
        ("POST", r"/lfs/verify", lambda m, b: hub.lfs_verify(json.loads(b))),
        ("PUT", r"/lfs/(?P<oid>[0-9a-f]{64})", lambda m, b: hub.lfs_put(m["oid"], b)),
        (
            "POST",
            rf"/api/datasets/{_REPO}/commit/[^/]+",
            lambda m, b: hub.commit(m["repo"], [json.loads(x) for x in b.splitlines() if x.strip()]),
        ),
    ]
    # Blob uploads go to storage, not the API: like S3 presigned URLs, they carry no token.
    unauthenticated = {r"/lfs/verify", r"/lfs/(?P<oid>[0-9a-f]{64})"}

    class Handler(BaseHTTPRequestHandler):
        def _dispatch(self, method: str) -> None:
            path = unquote(urlparse(self.path).path)
            hub.requests.append((method, path))
            body = self._body()
            for verb, pattern, action in routes:
                match = re.fullmatch(pattern, path)
                if verb != method or not match:
                    continue
                if pattern not in unauthenticated and self.headers.get("Authorization") != f"Bearer {hub.token}":
                    return self._reply(401, {"error": "Invalid credentials in Authorization header"})
                status, payload = action(match, body)
                return self._reply(status, payload)
            self._reply(404, {"error": f"the stand-in has no {method} {path}"})

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while (size := int(self.rfile.readline().split(b";")[0].strip(), 16)) > 0:
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                self.rfile.readline()
                return b"".join(chunks)
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _reply(self, status: int, payload) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if status == 404 and "Repository" in str(payload):
                self.send_header("X-Error-Code", "RepoNotFound")
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self._dispatch("GET")

        def do_POST(self):
            self._dispatch("POST")

        def do_PUT(self):
            self._dispatch("PUT")

        def log_message(self, *args) -> None:  # keep test output clean
            pass

    return Handler
