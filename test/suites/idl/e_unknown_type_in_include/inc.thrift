struct Yes {}
