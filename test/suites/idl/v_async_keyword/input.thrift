service S { async void legacy() }
