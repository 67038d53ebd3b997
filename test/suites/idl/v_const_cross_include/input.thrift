include "colors.thrift"
const colors.Color C = colors.Color.GREEN
const i32 N = colors.COUNT
const colors.Pixel P = {"c": colors.Color.RED, "alpha": colors.COUNT}
const list<colors.Color> ALL = [colors.Color.RED, colors.Color.GREEN]
struct Canvas { 1: colors.Color bg = colors.Color.GREEN }
