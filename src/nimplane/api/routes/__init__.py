"""One module per Run:ai resource; handlers parse, call one service function, and map the result."""
