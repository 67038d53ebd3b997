service S extends Nope {}
