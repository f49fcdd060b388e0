"""pickle, copy.copy and copy.deepcopy on both backends: independent graphs, nothing lost."""

from __future__ import annotations

import copy
import pickle
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pytest

import gli


class Payload:
    def __init__(self, x: int) -> None:
        self.x = x

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Payload) and other.x == self.x


class MyGraph(gli.Graph):
    __slots__ = ()


def sample(backend: str, directed: bool) -> gli.Graph:
    g = gli.Graph(directed=directed, backend=backend)
    g.add_node("a", p=Payload(1), nested=[1, {"k": [2.5, None]}], big=2**80, flag=True)
    g.batch_add_nodes([1, 2, (3, {"s": "x"}), "z"])
    g.add_edge(3, "a", w=1.5)
    g.add_edge(1, "a")
    g.add_edge("a", "a", o=Payload(2))
    g.add_edge(2, 1, w=-1)
    g.add_edge("z", 2)
    g.remove_node("z")
    g.add_node("z", again=1)
    return g


def same(g: gli.Graph, h: gli.Graph) -> None:
    assert type(h) is type(g) and h.directed == g.directed
    assert h.nodes(data=True) == g.nodes(data=True)
    assert h.edges(data=True) == g.edges(data=True)
    for n in g.nodes():
        assert h.successors(n) == g.successors(n)
        assert h.predecessors(n) == g.predecessors(n)
    assert (h.node_count(), h.edge_count()) == (g.node_count(), g.edge_count())


@pytest.mark.parametrize("directed", [True, False])
def test_round_trips(backend: str, directed: bool) -> None:
    g = sample(backend, directed)
    for proto in (2, pickle.HIGHEST_PROTOCOL):
        same(g, pickle.loads(pickle.dumps(g, protocol=proto)))
    shallow, deep = copy.copy(g), copy.deepcopy(g)
    same(g, shallow)
    same(g, deep)
    assert shallow.get_node("a")["p"] is g.get_node("a")["p"]
    assert deep.get_node("a")["p"] is not g.get_node("a")["p"]
    for h in (shallow, deep):
        h.add_node("new")
        h.update_node("a", flag=False)
        h.remove_edge(3, "a")
    assert "new" not in g and g.get_node("a")["flag"] is True and g.has_edge(3, "a")
    # The copy is a working graph.
    assert deep.shortest_path(2, "a") == g.shortest_path(2, "a")


def test_subclass_and_empty_graphs() -> None:
    g = MyGraph(directed=False)
    g.add_node(1)
    h = pickle.loads(pickle.dumps(g))
    assert type(h) is MyGraph and h.nodes() == [1] and not h.directed
    for backend in ("rust", "python"):
        e = gli.Graph(backend=backend)
        same(e, pickle.loads(pickle.dumps(e)))


class Holder:
    """An attribute value that refers back to the graph holding it."""

    def __init__(self, g: gli.Graph) -> None:
        self.g = g


def test_attribute_values_that_refer_back_to_the_graph(backend: str) -> None:
    g = gli.Graph(backend=backend)
    g.add_node("me", graph=g, holder=Holder(g))
    g.add_node(2)
    g.add_edge("me", 2, back=g)
    other = gli.Graph(backend=backend)
    other.add_node(1, peer=g)
    g.add_node("peer", other=other)
    copies = [pickle.loads(pickle.dumps(g, protocol=p)) for p in range(pickle.HIGHEST_PROTOCOL + 1)]
    for h in [*copies, copy.deepcopy(g)]:
        assert h is not g and h.nodes() == g.nodes()
        attrs = h.get_node("me")
        assert attrs["graph"] is h and attrs["holder"].g is h and h.get_edge("me", 2)["back"] is h
        assert h.get_node("peer")["other"].get_node(1)["peer"] is h  # a cycle through a second graph
    shallow = copy.copy(g)
    assert shallow.get_node("me")["graph"] is g  # shared, as dict.copy shares values


def test_a_subclass_instance_keeps_its_own_attributes() -> None:
    class Tagged(gli.Graph):
        pass

    g = Tagged()
    g.tag = "kept"  # type: ignore[attr-defined]
    g.add_node(1, me=g)
    for h in (copy.deepcopy(g), copy.copy(g)):
        assert type(h) is Tagged and h.tag == "kept"  # type: ignore[attr-defined]
    h = copy.deepcopy(g)
    assert h.get_node(1)["me"] is h


def test_pickles_of_the_previous_format_still_load() -> None:
    from gli.graph import _restore

    g = sample("rust", True)
    image, objects = g._dump_state()
    same(g, _restore(gli.Graph, True, image, objects))  # what their reduce tuple calls


def _edge_count(g: gli.Graph) -> tuple[int, Any]:
    return g.edge_count(), g.pagerank()


def test_graphs_cross_process_boundaries() -> None:
    g = gli.Graph()
    g.batch_add_nodes(range(2000))
    g.batch_add_edges((i, (i * 7) % 2000) for i in range(2000) if i != (i * 7) % 2000)
    with ProcessPoolExecutor(max_workers=1) as pool:
        count, ranks = pool.submit(_edge_count, g).result(timeout=120)
    assert count == g.edge_count()
    assert ranks == pytest.approx(g.pagerank())


def test_corrupt_images_are_rejected() -> None:
    g = sample("rust", True)
    image, objects = g._dump_state()
    fresh = gli.Graph()
    for bad in (image[:-3], b"nope" + image[4:], image[: len(image) // 2]):
        with pytest.raises(ValueError, match="corrupt graph state"):
            fresh._load_state(bad, objects)
        assert fresh.node_count() == 0
    with pytest.raises(ValueError, match="opaque value"):
        fresh._load_state(image, [])
    with pytest.raises(ValueError, match="directedness"):
        gli.Graph(directed=False)._load_state(image, objects)
    with pytest.raises(ValueError, match="empty graph"):
        g._load_state(image, objects)


@pytest.mark.parametrize("count", [0x100000000000, 0x0800000000000000])
def test_an_image_whose_name_table_overlaps_its_nodes_is_rejected(count: int) -> None:
    import struct

    one = gli.Graph()
    one.add_node(0)
    image = bytearray(one._dump_state()[0])
    # magic(4) directed(1) table(u64) | n(u32) tag(u8) id(u64) attrs(u32) out(u32) in(u32) | edge attrs m(u64)
    body = 13
    m_at = body + 4 + 1 + 8 + 4 + 4 + 4
    assert struct.unpack_from("<Q", image, m_at)[0] == 0
    struct.pack_into("<Q", image, 5, body + 4 + 1 + 8)  # the name table inside the node: it reads as empty
    struct.pack_into("<Q", image, m_at, count)  # and a huge edge-attribute count after it
    fresh = gli.Graph()
    with pytest.raises(ValueError, match="corrupt graph state"):  # it aborted the process (allocation)
        fresh._load_state(bytes(image), [])
    assert fresh.node_count() == 0


@pytest.mark.parametrize("backend", ["rust", "python"])
def test_copies_taken_while_another_thread_writes(backend: str) -> None:
    # The reference backend used to hand pickle its live dicts ("dictionary
    # changed size during iteration" once the lock was let go).
    import threading

    g = gli.Graph(backend=backend)
    g.batch_add_nodes((i, {"p": Payload(i)}) for i in range(2_000))
    g.batch_add_edges((i, i + 1) for i in range(1_999))
    stop = threading.Event()

    def writer() -> None:
        k = 10**6
        while not stop.is_set():
            g.add_node(k, p=Payload(k))
            g.add_edge(0, k)
            g.update_node(1, extra=k)
            g.remove_node(k)
            k += 1

    t = threading.Thread(target=writer)
    t.start()
    try:
        for _ in range(15):
            for h in (pickle.loads(pickle.dumps(g)), copy.deepcopy(g), copy.copy(g)):
                assert h.node_count() in (2_000, 2_001) and len(h.nodes()) == h.node_count()
                assert h.edge_count() == len(h.edges()) and sum(h.out_degree(v) for v in h.nodes()) == h.edge_count()
    finally:
        stop.set()
        t.join(60)
    assert not t.is_alive()


def test_racing_restores_into_one_graph_leave_one_whole_copy() -> None:
    # __setstate__ on a graph other threads can reach: the emptiness check
    # and the load used to be separate steps, and two loads doubled every edge.
    import threading

    src = gli.Graph()
    src.batch_add_nodes(range(50_000))
    src.batch_add_edges((i, i + 1) for i in range(49_999))
    state = src.__getstate__()
    for _ in range(5):
        g = gli.Graph()
        barrier = threading.Barrier(2)
        outcomes: list[str] = []

        def load() -> None:
            barrier.wait()
            try:
                g.__setstate__(state)
                outcomes.append("loaded")
            except ValueError as e:
                outcomes.append(str(e))

        threads = [threading.Thread(target=load) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sorted(outcomes) == ["loaded", "restore needs an empty graph"], outcomes
        same(src, g)
        same(src, pickle.loads(pickle.dumps(g)))


class Named(gli.Graph):
    def __init__(self, directed: bool = True, name: str = "k") -> None:
        super().__init__(directed)
        self.name = name


class Slotted(gli.Graph):
    __slots__ = ("tag", "__private")


class TaggedPython(gli.PythonGraph):
    pass


class SlottedPython(gli.PythonGraph):
    __slots__ = ("y", "__z")  # pickle and deepcopy kept neither


def test_subclasses_with_their_own_init_and_slots_copy_whole() -> None:
    n = Named(False, name="x")
    n.add_node(1)
    s = Slotted()
    s.tag = "t"
    s._Slotted__private = 7  # type: ignore[attr-defined]
    s.add_node(2)
    for h in (copy.copy(n), copy.deepcopy(n), pickle.loads(pickle.dumps(n))):
        assert type(h) is Named and h.name == "x" and h.nodes() == [1] and not h.directed
    for k in (copy.copy(s), copy.deepcopy(s), pickle.loads(pickle.dumps(s))):
        assert type(k) is Slotted and k.tag == "t" and k.nodes() == [2]
        assert k._Slotted__private == 7  # type: ignore[attr-defined]
    with pytest.raises(TypeError, match="unexpected keyword argument 'name'"):
        gli.Graph(name="x")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"Graph\(\) takes from 0 to 2 positional arguments but 3 were given"):
        gli.Graph(True, "rust", 3)  # type: ignore[call-arg]


class NeedsAName(gli.Graph):
    """A subclass whose __init__ wants an argument and adds a node."""

    def __init__(self, name: str, directed: bool = True) -> None:
        super().__init__(directed)
        self.name = name
        self.add_node("root")


class NeedsANameAndANew(NeedsAName):
    """The same, with a ``__new__`` that passes its arguments on (as
    ``Graph.__new__`` reads them: a copy's must not make it directed)."""

    def __new__(cls, *args: Any, **kwargs: Any) -> NeedsANameAndANew:
        return super().__new__(cls, *args, **kwargs)


class NeedsANamePython(gli.PythonGraph):
    def __init__(self, name: str, directed: bool = True) -> None:
        super().__init__(directed)
        self.name = name
        self.add_node("root")


def test_a_subclass_init_chooses_the_graph_by_its_own_parameters() -> None:
    # Graph.__new__ reads `directed` (and `backend`) from the subclass's own
    # signature: a leading parameter of its own is not taken for `directed`.
    assert NeedsAName("a").directed and NeedsAName("a").name == "a"
    assert not NeedsAName("a", False).directed
    assert not NeedsAName(directed=False, name="a").directed

    class Keywords(gli.Graph):
        def __init__(self, name: str, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.name = name

    assert not Keywords("k", directed=False).directed and Keywords("k").directed

    class Undirected(gli.Graph):  # its `directed` is not a parameter: refused, not ignored
        def __init__(self) -> None:
            super().__init__(directed=False)

    with pytest.raises(ValueError, match="Graph.__init__ got directed=False, but the graph was made directed"):
        Undirected()
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'name'"):
        NeedsAName()  # type: ignore[call-arg]

    class Forwarding(gli.Graph):  # passes *args on: they are Graph's (directed, backend)
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)

    assert not Forwarding(False).directed and not Forwarding(directed=False).directed and Forwarding().directed


@pytest.mark.parametrize("cls", [NeedsAName, NeedsANameAndANew, NeedsANamePython])
def test_copies_do_not_run_the_subclass_init(cls: type) -> None:
    # As pickle makes objects: the class's __init__ (here needing an argument
    # and adding a node) does not run for a copy, an unpickled graph, a
    # subgraph or the NetworkX conversion; the copy has the original's state.
    # A __new__ that forwards its arguments to Graph.__new__ used to make the
    # copies directed (a subgraph corrupt: an undirected edge stored one way).
    g = cls("roads", directed=False)
    g.add_node(1)
    g.add_edge(1, "root")
    for h in (copy.copy(g), copy.deepcopy(g), pickle.loads(pickle.dumps(g)), g.subgraph(g.nodes())):
        assert type(h) is cls and h.name == "roads" and not h.directed
        assert h.nodes() == ["root", 1] and h.edge_count() == 1 and h.has_edge("root", 1)
        h.remove_edge("root", 1)
        assert h.edges() == [] and not h.has_edge(1, "root")
    G = g.to_networkx()
    assert not G.is_directed() and list(G.nodes) == ["root", 1] and G.number_of_edges() == 1
    # from_networkx makes the class as a copy does (its __init__ wants a name).
    h = cls.from_networkx(G, backend="python" if issubclass(cls, gli.PythonGraph) else "rust")
    assert type(h) is cls and not h.directed and h.nodes() == ["root", 1] and h.edge_count() == 1
    assert not hasattr(h, "name")


def test_from_networkx_of_a_graph_subclass_keeps_its_backend() -> None:
    import networkx as nx

    with pytest.raises(TypeError, match=r"NeedsAName.from_networkx\(backend='python'\): a subclass of Graph extends the rust backend"):
        NeedsAName.from_networkx(nx.path_graph(2), backend="python")
    with pytest.raises(ValueError, match="unknown backend 'nope'"):
        NeedsAName.from_networkx(nx.path_graph(2), backend="nope")


def test_a_reference_backend_subclass_copies_its_own_attributes() -> None:
    g = TaggedPython()
    g.tag = "kept"  # type: ignore[attr-defined]
    g.add_node(1)
    for h in (copy.copy(g), copy.deepcopy(g), pickle.loads(pickle.dumps(g))):
        assert type(h) is TaggedPython and h.tag == "kept" and h.nodes() == [1]  # type: ignore[attr-defined]
    s = SlottedPython()
    s.y, s._SlottedPython__z = 3, 4  # type: ignore[attr-defined]
    s.add_node(1)
    for h in (copy.copy(s), copy.deepcopy(s), pickle.loads(pickle.dumps(s)), s.subgraph([1])):
        assert type(h) is SlottedPython and (h.y, h._SlottedPython__z) == (3, 4) and h.nodes() == [1]  # type: ignore[attr-defined]


class ReadOnlyTag(gli.Graph):
    """A property with no setter over a ``__dict__`` entry, and a
    ``__setattr__`` of its own."""

    @property
    def tag(self) -> Any:
        return self.__dict__.get("tag")

    def set_tag(self, v: Any) -> None:
        self.__dict__["tag"] = v

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "tag":
            raise AttributeError("tag is read-only")
        object.__setattr__(self, name, value)


class ReadOnlyTagPython(gli.PythonGraph):
    tag = ReadOnlyTag.tag
    set_tag = ReadOnlyTag.set_tag
    __setattr__ = ReadOnlyTag.__setattr__  # type: ignore[assignment]


@pytest.mark.parametrize("cls", [ReadOnlyTag, ReadOnlyTagPython])
def test_a_subclass_restores_its_attributes_without_its_setters(cls: type) -> None:
    # As pickle restores an object's __dict__ (directly, not attribute by
    # attribute), on both backends.
    g = cls()
    g.add_node(1)
    g.set_tag("t")
    for h in (pickle.loads(pickle.dumps(g)), copy.deepcopy(g), copy.copy(g), g.subgraph([1])):
        assert type(h) is cls and h.tag == "t" and h.nodes() == [1]
