from chat._citations import cited_numbers, resolve_citations, snippet
from knowledge import Chunk, Hit


def hits(n):
    return [Hit(chunk=Chunk(id=f"c{i}", text=f"text {i} " * 60, source=f"d{i}.md", page=i), score=1 / i, similarity=0.9 - i / 10, rank=i)
            for i in range(1, n + 1)]


def test_markers_in_order_of_first_mention_and_out_of_range_ignored():
    assert cited_numbers("Open at 9 [2]. Closed Sunday [1][2]. See [3, 1] and [7].", 3) == [2, 1, 3]
    assert cited_numbers("No markers, [a] or [ ] here.", 3) == []


def test_cited_markers_resolve_to_their_chunks():
    sources = resolve_citations("We open at 9 [2].", hits(3))
    assert [(c.n, c.source, c.page, c.chunk_id, c.cited) for c in sources] == [(2, "d2.md", 2, "c2", True)]
    assert sources[0].score == 0.5 and sources[0].text == "text 2 " * 60
    assert len(sources[0].snippet) <= 202 and sources[0].snippet.endswith("…")


def test_nothing_cited_lists_every_given_chunk_as_not_cited():
    sources = resolve_citations("We open at 9.", hits(3))
    assert [(c.n, c.cited) for c in sources] == [(1, False), (2, False), (3, False)]


def test_snippet_is_one_line():
    assert snippet("a\n\nb   c") == "a b c"


def test_sentences_split_at_stops_and_line_breaks():
    from chat._citations import sentences

    assert sentences("We open at 9 a.m. on Saturday. Closed Sunday!\nCall (360) 555-0148.") == [
        "We open at 9 a.m. on Saturday.", "Closed Sunday!", "Call (360) 555-0148."]
