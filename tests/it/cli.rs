//! The `intune-mock` command line: help with examples for every subcommand, shell completions.

use std::process::Command;

fn intune_mock(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_intune-mock-under-test"))
        .args(args)
        .output()
        .expect("the command runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_subcommand_has_help_with_an_example() {
    for sub in ["run", "serve", "connector", "status", "completions"] {
        let (code, out, err) = intune_mock(&[sub, "--help"]);
        assert_eq!(code, 0, "{sub}: {err}");
        assert!(
            out.contains("Example"),
            "{sub} --help has no example:\n{out}"
        );
        assert!(out.contains(&format!("intune-mock {sub}")), "{sub}:\n{out}");
    }
}

#[test]
fn completions_are_printed_for_bash_zsh_and_fish_and_an_unknown_shell_is_refused() {
    let (code, bash, _) = intune_mock(&["completions", "bash"]);
    assert_eq!(code, 0);
    assert!(
        bash.contains("complete -F _intune__mock -o bashdefault -o default intune-mock"),
        "{bash}"
    );
    for sub in ["run", "serve", "connector", "status", "completions"] {
        assert!(bash.contains(sub), "bash completion lacks {sub}");
    }
    let (code, zsh, _) = intune_mock(&["completions", "zsh"]);
    assert_eq!(code, 0);
    assert!(zsh.starts_with("#compdef intune-mock"), "{zsh}");
    let (code, fish, _) = intune_mock(&["completions", "fish"]);
    assert_eq!(code, 0);
    assert!(
        fish.contains(
            "complete -c intune-mock -n \"__fish_intune_mock_needs_command\" -f -a \"serve\""
        ),
        "{fish}"
    );
    let (code, out, err) = intune_mock(&["completions", "tcsh"]);
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(err.contains("invalid value 'tcsh'"), "{err}");
    assert!(err.contains("bash, elvish, fish, powershell, zsh"), "{err}");
}
