service S {
  Missing get()
}
