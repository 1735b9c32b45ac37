"""The Python reference shop: a checkout integration that the fakestripe
scenarios run against, with ``SHOP_BUG`` switches that each turn on one
classic mistake."""
