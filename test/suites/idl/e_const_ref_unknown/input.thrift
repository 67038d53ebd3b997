const i32 N = nothere
