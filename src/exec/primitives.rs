//! llm-orc's built-in script primitives, run natively (no Python): read_file, write_file,
//! json_extract, replicate_n_times, get_user_input, confirm_action.
