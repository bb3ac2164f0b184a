from knowledge.passages import bold_terms, plain, split_passages, weight


def test_paragraphs_merge_up_to_the_target_and_lists_stay_with_their_lead() -> None:
    body = "Intro line.\n\n1. First step\n2. Second step\n\nShort note.\n\n" + "A long paragraph. " * 40
    ps = split_passages(body, target=120, hard_max=400)
    assert ps[0].startswith("Intro line.\nFirst step") and "Second step" in ps[0]
    assert all("**" not in p and not p.startswith("1.") for p in ps)
    assert len(ps) >= 3 and all(weight(p) <= 400 for p in ps[1:])


def test_headings_start_a_passage_and_placeholders_make_none() -> None:
    ps = split_passages("Para one.\n\n## Second part\n\nPara two.", target=1000)
    assert ps == ["Para one.", "Second part\nPara two."]
    assert split_passages("…") == []


def test_chinese_counts_heavier() -> None:
    assert weight("发票") == 6 and weight("ab") == 2


def test_bold_terms_split_menu_paths() -> None:
    assert bold_terms("Open **Settings › Invoice numbering** and **红字发票**") == ["Settings", "Invoice", "numbering", "红字发票"]
    assert plain("**Bold** and `code`") == "Bold and code"
