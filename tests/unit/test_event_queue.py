"""The sources' event queue keeps the newest event per object, in the order of those."""

from __future__ import annotations

from enforcer.incremental import NamespaceEvent, PodEvent, PolicyEvent
from enforcer.sources import EventQueue
from mnp.model import Namespace, Pod


def _pod(name: str, app: str) -> Pod:
    return Pod(namespace="ns", name=name, labels=(("app", app),))


def test_a_burst_on_one_object_is_one_event_at_the_place_of_its_newest() -> None:
    queue = EventQueue()
    queue.put(PodEvent(("ns", "a"), _pod("a", "1")))
    queue.put(NamespaceEvent("ns", Namespace("ns", ())))
    queue.put(PodEvent(("ns", "a"), _pod("a", "2")))
    queue.put(PolicyEvent("ns/p", None))
    queue.put(PodEvent(("ns", "a"), None))
    assert len(queue) == 3
    assert queue.drain() == [
        NamespaceEvent("ns", Namespace("ns", ())),
        PolicyEvent("ns/p", None),
        PodEvent(("ns", "a"), None),
    ]
    assert queue.drain() == [] and len(queue) == 0


def test_the_queue_is_bounded_by_the_objects_not_the_updates() -> None:
    queue = EventQueue()
    for n in range(10_000):
        queue.put(PodEvent(("ns", f"p{n % 10}"), _pod(f"p{n % 10}", str(n))))
    events = queue.drain()
    assert len(events) == 10
    assert {e.pod.labels for e in events if isinstance(e, PodEvent) and e.pod} == {
        (("app", str(n)),) for n in range(9_990, 10_000)
    }
