"""Field names for values ``harvest init`` finds only by their tag path (issue 24): from the
label beside them, the column header, ``itemprop``, the classes around them, else their kind;
never the tag (``span``, ``td_2``). Hand-written list pages without ids or classes on the
values."""

from __future__ import annotations

from lxml import html as lxml_html

from harvest.learning.cardrecords import find_cards, record_fields
from harvest.learning.naming import element_name, kind_name

URL = "http://names.test/list"


def names(page: str) -> dict[str, str]:
    """Each drafted field's name -> its selector, on ``page``'s cards."""
    if not page.startswith("<html>"):  # six cards of the template ``page`` (``{n}``: 1-6)
        page = "<html><body><main>" + "".join(page.format(n=n) for n in range(1, 7)) + "</main>"
    found = find_cards(page)
    assert found is not None
    return {
        f.name: f.selector["css"] for f in record_fields(URL, page, found[0]) if "css" in f.selector
    }


def test_a_table_without_th_is_named_by_its_thead_row() -> None:
    rows = "".join(
        f"<tr><td>Town {c}</td><td>{100 + n * 7}</td><td>{n}.5 km</td></tr>"
        for n, c in enumerate("ABCDEF", 1)
    )
    page = (
        "<html><body><table><thead><tr><td>Town</td><td>Inhabitants</td><td>Distance</td></tr>"
        f"</thead><tbody>{rows}</tbody></table></body></html>"
    )
    assert set(names(page)) == {"town", "inhabitants", "distance"}


def test_labels_before_values_name_them() -> None:
    found = names(
        "<li><b>Lamp {n}</b> <span>Price:</span><span>{n}.99 €</span>"
        "<dl><dt>Colour</dt><dd>shade {n}</dd></dl><p>Weight: <i>{n} kg</i></p></li>"
    )
    assert {"title", "price", "colour", "weight"} <= set(found), found
    assert not {"b", "span", "dd", "i"} & set(found)


def test_classes_and_itemprop_around_a_value_name_it_layout_classes_do_not() -> None:
    found = names(
        '<div class="col-md-4"><div class="col-inner"><em>Chair {n}</em></div>'
        '<div itemprop="offers"><u>{n}0.00 EUR</u></div>'
        '<section class="seller-box"><a>Shop {n}</a></section><small>{n} March 2025</small></div>'
    )
    assert {"text", "offers", "seller_box", "date"} <= set(found), found


def test_element_name_and_kind_name() -> None:
    root = lxml_html.fromstring(
        "<div><p>Size: <b>XL</b></p><table><tr><th>UPC</th><td><span>a1</span></td></tr>"
        "</table><div class='js-col-6 product-rating'><span>4</span></div></div>"
    )
    b, span, rating = root.xpath("//b")[0], root.xpath("//td/span")[0], root.xpath("//div/span")[0]
    assert element_name(root, b) == "size"
    assert element_name(root, span) is None  # a th beside it in a row is no column header
    assert element_name(root, rating) == "rating"  # a "product-" prefix is cut, as for classes
    assert (kind_name("price", "span"), kind_name("text", "h3"), kind_name("text", "p")) == (
        "price",
        "title",
        "text",
    )
