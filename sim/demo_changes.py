"""The demo's user and team changes: what PagerDuty announces by no webhook, only by an
audit record (`GET /audit/records`), so the graph follows them through pdgraph's audit feed
(or its light refresh, or the next full sync).

One change a step, in a fixed cycle: rename a user, make a user an admin, make them what
they were again, add a user to a team, take them out again, create a user, delete that user.
Each step returns the line the demo prints, naming the object's `_key` in the graph.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from sim.pagerduty import Account

SURNAMES = ("Hopper", "Lamarr", "Noether", "Turing", "Okafor", "Nakamura", "Johnson", "Ørsted")
ADMIN_ROLES = ("admin", "owner")


def _user_key(user_id: str) -> str:
    return f"user:{user_id}"


class PeopleChanges:
    """The cycle of user and team changes, applied to `account` one `step()` at a time
    (the caller holds the simulator's lock)."""

    def __init__(self, account: Account, seed: int = 5) -> None:
        self.account = account
        self.rng = random.Random(seed)
        self.count = 0
        self._admin: tuple[str, str] | None = None  # user id, the role they had
        self._member: tuple[str, str] | None = None  # team id, user id
        self._created: str | None = None  # user id
        self._steps: list[Callable[[], str | None]] = [
            self.rename_user,
            self.make_admin,
            self.restore_role,
            self.add_member,
            self.remove_member,
            self.create_user,
            self.delete_user,
        ]

    def step(self) -> str:
        """Make the next change of the cycle (skipping one that has nothing to change)."""
        for _ in range(len(self._steps)):
            change = self._steps[self.count % len(self._steps)]
            self.count += 1
            line = change()
            if line is not None:
                return line
        return "no user or team to change"

    def _pick_user(self, where: Callable[[dict[str, Any]], bool] = lambda _: True) -> str | None:
        users = [uid for uid, user in sorted(self.account.users.items()) if where(user)]
        return self.rng.choice(users) if users else None

    def rename_user(self) -> str | None:
        user_id = self._pick_user()
        if user_id is None:
            return None
        old = self.account.users[user_id]["name"]
        first = old.split(" ")[0]
        new = f"{first} {self.rng.choice([s for s in SURNAMES if s not in old])}"
        self.account.update_user(user_id, name=new)
        return f"renamed user {_user_key(user_id)}: {old!r} → {new!r}"

    def make_admin(self) -> str | None:
        user_id = self._pick_user(lambda user: user["role"] not in ADMIN_ROLES)
        if user_id is None:
            return None
        role = self.account.users[user_id]["role"]
        self._admin = (user_id, role)
        self.account.update_user(user_id, role="admin")
        name = self.account.users[user_id]["name"]
        return f"made {_user_key(user_id)} ({name}) an admin: role {role} → admin"

    def restore_role(self) -> str | None:
        if self._admin is None or self._admin[0] not in self.account.users:
            return None
        (user_id, role), self._admin = self._admin, None
        self.account.update_user(user_id, role=role)
        name = self.account.users[user_id]["name"]
        return f"made {_user_key(user_id)} ({name}) no admin again: role admin → {role}"

    def add_member(self) -> str | None:
        teams = sorted(self.account.teams)
        if not teams:
            return None
        team_id = self.rng.choice(teams)
        user_id = self._pick_user(lambda user: team_id not in user["team_ids"])
        if user_id is None:
            return None
        self.account.add_member(team_id, user_id)
        self._member = (team_id, user_id)
        return f"added {_user_key(user_id)} to team:{team_id} ({self._team_name(team_id)})"

    def remove_member(self) -> str | None:
        if self._member is None:
            return None
        (team_id, user_id), self._member = self._member, None
        user = self.account.users.get(user_id)
        if user is None or team_id not in user["team_ids"]:
            return None
        self.account.remove_member(team_id, user_id)
        return f"removed {_user_key(user_id)} from team:{team_id} ({self._team_name(team_id)})"

    def create_user(self) -> str | None:
        number = self.count
        teams = sorted(self.account.teams)[:1]
        name = f"Demo Person{number}"
        user_id = self.account.add_user(
            name, f"demo.person{number}@example.com", role="user", team_ids=teams
        )
        self._created = user_id
        where = f", in team:{teams[0]}" if teams else ""
        return f"created user {_user_key(user_id)} ({name}{where})"

    def delete_user(self) -> str | None:
        if self._created is None or self._created not in self.account.users:
            return None
        user_id, self._created = self._created, None
        name = self.account.users[user_id]["name"]
        self.account.delete_user(user_id)
        return f"deleted user {_user_key(user_id)} ({name})"

    def _team_name(self, team_id: str) -> str:
        return str(self.account.teams[team_id]["name"])
