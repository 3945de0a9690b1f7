"""Users' contact methods and notification rules: how PagerDuty reaches a user assigned an
incident (an email, a phone call, ...; a rule per urgency and delay naming one of them).

A user's JSON names them as references (`contact_methods`, `notification_rules`);
`include[]=contact_methods` / `include[]=notification_rules` expands them. PagerDuty sends
no webhook for them, but audits each change under the user (the spec's
`AuditRecordUserResponse` example, a new user's default contact method and rules): the
user's `update` naming the contact method or rule added to / removed from its
`contact_methods` / `notification_rules`, and the user's `update` whose `details.resource`
is the contact method or rule itself, with its fields (and a rule's `contact_method`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sim.pagerduty.audit import AuditTrail, field_change, members_changed
from sim.pagerduty.catalog import Catalog
from sim.pagerduty.objects import HOST, iso

# contact method type -> how PagerDuty names it in a rule's summary
CONTACT_TYPES = {
    "email_contact_method": "Email",
    "phone_contact_method": "Phone",
    "sms_contact_method": "SMS",
    "push_notification_contact_method": "Push",
}
URGENCIES = ("high", "low")
CONTACT_FIELDS = ("label", "type", "address")
RULE_FIELDS = ("start_delay_in_minutes", "urgency")
RULE = "assignment_notification_rule"


def contact_ref(cm: dict[str, Any]) -> dict[str, Any]:
    """A contact method's reference, as the spec's user example shows one."""
    return {
        "id": cm["id"],
        "type": f"{cm['type']}_reference",
        "summary": cm["label"],
        "self": f"{HOST}/users/{cm['user_id']}/contact_methods/{cm['id']}",
        "html_url": None,
    }


def contact_json(cm: dict[str, Any]) -> dict[str, Any]:
    """The spec's `ContactMethod`: phone and SMS with a country code, push with a device."""
    out = {**contact_ref(cm), "type": cm["type"], "label": cm["label"], "address": cm["address"]}
    if cm["type"] == "email_contact_method":
        out["send_short_email"] = False
    elif cm["type"] == "push_notification_contact_method":
        out.update(
            device_type=cm["device_type"], sounds=[], created_at=cm["created_at"], blacklisted=False
        )
    else:
        out.update(country_code=cm["country_code"], enabled=True, blacklisted=False)
    return out


def rule_ref(rule: dict[str, Any], cm: dict[str, Any], *, audit: bool = False) -> dict[str, Any]:
    """A notification rule's reference: summarised by its contact method's label (the
    spec's REST examples), or in an audit record as `High Urgency (Email: Default)`."""
    summary = cm["label"]
    if audit:
        summary = f"{rule['urgency'].title()} Urgency ({CONTACT_TYPES[cm['type']]}: {summary})"
    return {
        "id": rule["id"],
        "type": f"{RULE}_reference",
        "summary": summary,
        "self": f"{HOST}/users/{rule['user_id']}/notification_rules/{rule['id']}",
        "html_url": None,
    }


def rule_json(rule: dict[str, Any], cm: dict[str, Any]) -> dict[str, Any]:
    return {
        **rule_ref(rule, cm),
        "type": RULE,
        "start_delay_in_minutes": rule["start_delay_in_minutes"],
        "contact_method": contact_ref(cm),
        "created_at": rule["created_at"],
        "urgency": rule["urgency"],
    }


class ContactEdits:
    """Mixed into Account: the attributes below are the account's."""

    users: dict[str, dict[str, Any]]
    catalog: Catalog
    audit: AuditTrail
    clock: Callable[[], float]
    changed: Callable[[], None]

    def contact_methods_of(self, user_id: str) -> dict[str, dict[str, Any]]:
        return self.catalog.contact_methods.get(user_id, {})

    def notification_rules_of(self, user_id: str) -> dict[str, dict[str, Any]]:
        return self.catalog.notification_rules.get(user_id, {})

    def contact_fields(self, user_id: str, include: Iterable[str] = ()) -> dict[str, Any]:
        """A user's `contact_methods` and `notification_rules`: references, or the objects
        themselves where `include[]` names them."""
        methods = self.contact_methods_of(user_id)
        rules = self.notification_rules_of(user_id).values()
        expand = set(include)
        return {
            "contact_methods": [
                contact_json(cm) if "contact_methods" in expand else contact_ref(cm)
                for cm in methods.values()
            ],
            "notification_rules": [
                rule_json(r, cm) if "notification_rules" in expand else rule_ref(r, cm)
                for r in rules
                for cm in [methods[r["contact_method_id"]]]
            ],
        }

    def add_contact_method(
        self,
        user_id: str,
        type: str,
        address: str,
        label: str = "Work",
        *,
        country_code: int = 1,
        device_type: str = "ios",
    ) -> str:
        """A contact method of `type` (email_, phone_, sms_ or push_notification_contact_method;
        phone and SMS numbers take `country_code`, push `device_type`: android or ios)."""
        if type not in CONTACT_TYPES:
            raise ValueError(f"contact method type {type!r} is not one of {list(CONTACT_TYPES)}")
        if user_id not in self.users:
            raise KeyError(user_id)
        cid = self.catalog.new_id("C")
        cm: dict[str, Any] = {
            "id": cid,
            "user_id": user_id,
            "type": type,
            "label": label,
            "address": address,
        }
        if type in ("phone_contact_method", "sms_contact_method"):
            cm["country_code"] = country_code
        elif type == "push_notification_contact_method":
            cm.update(device_type=device_type, created_at=iso(self.clock()))
        self.catalog.contact_methods.setdefault(user_id, {})[cid] = cm
        self.changed()
        fields = [field_change(k, None, cm[k]) for k in CONTACT_FIELDS]
        self._record_contact(user_id, "contact_methods", contact_ref(cm), fields, added=True)
        return cid

    def remove_contact_method(self, user_id: str, contact_method_id: str) -> None:
        """Remove it, and (as PagerDuty does) every notification rule that names it."""
        cm = self.contact_methods_of(user_id)[contact_method_id]
        with self.audit.request():
            for rule in list(self.notification_rules_of(user_id).values()):
                if rule["contact_method_id"] == contact_method_id:
                    self.remove_notification_rule(user_id, rule["id"])
            del self.catalog.contact_methods[user_id][contact_method_id]
            self.changed()
            fields = [field_change(k, cm[k], None) for k in CONTACT_FIELDS]
            self._record_contact(user_id, "contact_methods", contact_ref(cm), fields, added=False)

    def add_notification_rule(
        self,
        user_id: str,
        contact_method_id: str,
        urgency: str = "high",
        start_delay_in_minutes: int = 0,
    ) -> str:
        """Notify the user through one of its contact methods, for incidents of `urgency`
        (high or low), `start_delay_in_minutes` after assignment."""
        cm = self.contact_methods_of(user_id)[contact_method_id]  # KeyError: not the user's
        if urgency not in URGENCIES:
            raise ValueError(f"urgency {urgency!r} is not one of {URGENCIES}")
        if start_delay_in_minutes < 0:
            raise ValueError("start_delay_in_minutes must not be negative")
        rid = self.catalog.new_id("N")
        rule = {
            "id": rid,
            "user_id": user_id,
            "contact_method_id": contact_method_id,
            "urgency": urgency,
            "start_delay_in_minutes": int(start_delay_in_minutes),
            "created_at": iso(self.clock()),
        }
        self.catalog.notification_rules.setdefault(user_id, {})[rid] = rule
        self.changed()
        fields = [field_change(k, None, rule[k]) for k in RULE_FIELDS]
        method = members_changed("contact_method", [contact_ref(cm)], [])
        resource = rule_ref(rule, cm, audit=True)
        self._record_contact(user_id, "notification_rules", resource, fields, [method], True)
        return rid

    def remove_notification_rule(self, user_id: str, rule_id: str) -> None:
        rule = self.notification_rules_of(user_id)[rule_id]
        cm = self.contact_methods_of(user_id)[rule["contact_method_id"]]
        del self.catalog.notification_rules[user_id][rule_id]
        self.changed()
        fields = [field_change(k, rule[k], None) for k in RULE_FIELDS]
        method = members_changed("contact_method", [], [contact_ref(cm)])
        resource = rule_ref(rule, cm, audit=True)
        self._record_contact(user_id, "notification_rules", resource, fields, [method], False)

    def _record_contact(
        self,
        user_id: str,
        listed_in: str,
        resource: dict[str, Any],
        fields: list[dict[str, Any]],
        references: list[dict[str, Any]] | None = None,
        added: bool = True,
    ) -> None:
        """Two records of one request, both the user's `update`: its `listed_in` list
        gained or lost `resource`; `resource` itself, with its fields (and references)."""
        name = self.users[user_id]["name"]
        gained, lost = ([resource], []) if added else ([], [resource])
        change = members_changed(listed_in, gained, lost)
        with self.audit.request():
            self.audit.record("user", user_id, name, "update", references=[change])
            self.audit.record(
                "user",
                user_id,
                name,
                "update",
                fields=fields,
                references=references,
                resource=resource,
            )
