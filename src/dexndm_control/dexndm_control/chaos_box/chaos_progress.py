"""Progress of a Chaos Box collection folder (no ROS): complete bags and their trajectories.

``progress.json`` lists, in order, the bags that were closed cleanly, each with the indices of
the trajectories it holds, and the collection's settings; it is rewritten atomically after every
bag. A bag is readable only once closed, so any other ``bag_NNNNN`` folder was being written when
the collection stopped: it is discarded on restart, and the collection resumes at the trajectory
after the last one listed (trajectories complete in index order).
"""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

PROGRESS = "progress.json"
BAG_NAME = re.compile(r"bag_\d{5}")


class CollectionProgress:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        path = self.root / PROGRESS
        self.data = json.loads(path.read_text()) if path.exists() else {"config": {}, "bags": []}

    @property
    def bags(self) -> list[dict]:
        return self.data["bags"]

    @property
    def completed(self) -> list[int]:
        return [i for b in self.bags for i in b["trajectories"]]

    @property
    def next_index(self) -> int:
        return max(self.completed, default=-1) + 1

    def next_bag_name(self) -> str:
        return f"bag_{len(self.bags):05d}"

    def require_config(self, config: dict) -> None:
        """Record the collection's settings, or refuse to continue one made with others."""
        config = json.loads(json.dumps(config))
        if self.bags and self.data["config"] != config:
            raise ValueError(f"{self.root} holds a collection with other settings {self.data['config']}; "
                             f"these are {config}: use another folder")
        self.data["config"] = config
        self.save()

    def add_bag(self, name: str, trajectories: list[int]) -> None:
        """List a closed bag; if the file cannot be written (a full disk), the bag stays unlisted."""
        self.bags.append({"name": name, "trajectories": [int(i) for i in trajectories]})
        try:
            self.save()
        except BaseException:
            self.bags.pop()
            raise

    def discard_incomplete(self) -> list[Path]:
        """Delete bag folders not listed as complete; returns them."""
        listed = {b["name"] for b in self.bags}
        stale = [p for p in sorted(self.root.glob("bag_*"))
                 if p.is_dir() and BAG_NAME.fullmatch(p.name) and p.name not in listed]
        for p in stale:
            shutil.rmtree(p)
        return stale

    def save(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / (PROGRESS + ".tmp")
        tmp.write_text(json.dumps(self.data, indent=1))
        os.replace(tmp, self.root / PROGRESS)
