struct A { 1: nomod.T t }
