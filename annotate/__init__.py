"""The ME annotation window and the labels of several annotators, merged the way the 4DME study did."""
