"""The one id rule (data/coco.py): COCO's official category ids for COCO's names in either
spelling, a COCO JSON's own ids where given, 0..nc-1 otherwise; numeric file stems as image ids."""
import pytest

from detector.data.coco import (COCO80_TO_91, COCO_NAMES, COCO_OFFICIAL_NAMES, category_ids_for, image_ids,
                                is_coco80)


def test_coco_names_in_either_spelling_get_the_official_ids():
    assert len(COCO80_TO_91) == 80 and len(set(COCO80_TO_91)) == 80 and COCO80_TO_91[-1] == 90
    # the 10 ids COCO's 91 leave unused never appear
    assert set(range(1, 91)) - set(COCO80_TO_91) == {12, 26, 29, 30, 45, 66, 68, 69, 71, 83}
    for names in (COCO_NAMES, COCO_OFFICIAL_NAMES, [n.replace(" ", "_").title() for n in COCO_NAMES]):
        assert is_coco80(names) and category_ids_for(names) == list(COCO80_TO_91)
    assert COCO_OFFICIAL_NAMES[3:5] == ("motorcycle", "airplane") and COCO_OFFICIAL_NAMES[62] == "tv"
    swapped = list(COCO_NAMES)
    swapped[0], swapped[1] = swapped[1], swapped[0]
    assert not is_coco80(swapped) and category_ids_for(swapped) == list(range(80))
    assert category_ids_for(["cat", "dog"]) == [0, 1]
    assert category_ids_for(["cat", "dog"], given=[17, 18]) == [17, 18]
    with pytest.raises(ValueError, match="3 category ids for 2 class names"):
        category_ids_for(["cat", "dog"], given=[1, 2, 3])


def test_numeric_stems_are_image_ids_and_the_rest_are_numbered_on():
    assert image_ids(["000000000139", "000000000285"]) == [139, 285]
    assert image_ids(["a", "b", "c"]) == [0, 1, 2]
    # a repeated number, a name and a non-ASCII digit are numbered after the largest id
    assert image_ids(["12", "x", "7", "12", "٣"]) == [8, 9, 7, 10, 11]
