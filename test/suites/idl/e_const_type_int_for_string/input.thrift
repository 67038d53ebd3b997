const string S = 7
