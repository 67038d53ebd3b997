service S {}
service S {}
