//! Lines that carry a password (`/auth`, `/register`, `/login`, `/identify`, `/passwd`): the
//! input line shows their arguments as `*`, and its history does not keep them. Here, below
//! both the terminal code and the commands, so the two agree on which lines they are.

/// The command words whose arguments are secret.
const SECRET_COMMANDS: [&str; 5] = ["auth", "register", "login", "identify", "passwd"];

/// Where the secret part of `line` starts, in characters: just after the space that follows
/// one of those command words; `None` for any other line.
pub fn secret_from(line: &str) -> Option<usize> {
    let command = line.strip_prefix('/')?;
    let (word, _) = command.split_once(' ')?;
    let secret = SECRET_COMMANDS
        .iter()
        .any(|name| word.eq_ignore_ascii_case(name));
    secret.then(|| word.chars().count() + 2)
}

/// Whether `line` carries a password (also while only the command word is typed).
pub fn carries_secret(line: &str) -> bool {
    secret_from(line).is_some()
        || line.strip_prefix('/').is_some_and(|word| {
            SECRET_COMMANDS
                .iter()
                .any(|name| word.eq_ignore_ascii_case(name))
        })
}

/// The characters of an input line as shown: the secret part as `*`, one per character.
pub fn masked(chars: &[char]) -> Vec<char> {
    let line: String = chars.iter().collect();
    let from = secret_from(&line).unwrap_or(chars.len());
    chars
        .iter()
        .enumerate()
        .map(|(index, &c)| if index >= from { '*' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_with_passwords_are_recognised_and_masked() {
        for line in [
            "/auth x",
            "/register hunter22",
            "/LOGIN alice pw",
            "/identify pw",
            "/passwd a b",
            "/login",
        ] {
            assert!(carries_secret(line), "{line}");
        }
        for line in ["hello", "//login x", "/logout", "/nick login", "/key add"] {
            assert!(!carries_secret(line), "{line}");
        }
        let shown: String = masked(&"/login alice pw".chars().collect::<Vec<_>>())
            .into_iter()
            .collect();
        assert_eq!(shown, "/login ********");
        let shown: String = masked(&"/nick x".chars().collect::<Vec<_>>())
            .into_iter()
            .collect();
        assert_eq!(shown, "/nick x");
    }
}
