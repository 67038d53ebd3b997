const bool B = "yes"
