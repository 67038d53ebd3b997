const string ID = "id" (name = "LANG_ID")
