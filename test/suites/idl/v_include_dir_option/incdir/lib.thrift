struct L { 1: bool on }
