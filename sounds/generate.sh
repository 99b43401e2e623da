#!/usr/bin/env bash
# Regenerates the prompt audio from manifest.yaml with espeak-ng and sox.
#
# Every prompt in every language becomes `<lang>/<name>.wav` next to the
# manifest: 8 kHz, 16-bit, mono PCM WAV (what FreeSWITCH plays on a PCMU or
# PCMA call without resampling), leading and trailing silence trimmed and a
# fixed padding put back, high-passed at 100 Hz, peaks normalized to -3 dBFS.
# No dither and no randomness: the same manifest and the same espeak-ng and
# sox versions give the same bytes.
#
# Usage: sounds/generate.sh [--check] [--out DIR] [--brand [LANG=]NAME]... [PROMPT...]
#
#   PROMPT...   only these prompts (`greeting`, `digits/5`), in every
#               language; default: all of them
#   --out DIR   write under DIR instead of next to the manifest
#   --check     write into a temporary directory and compare with the files
#               next to the manifest; exit 1 if any differs or is missing
#   --brand NAME
#               the brand the greeting names (its `{brand}`), in every
#               language; `--brand LANG=NAME` sets one language's (repeat
#               for several: `--brand ko=이노페이 --brand en=Innopay`).
#               Default: $ARS_BRAND if set (every language), else the
#               manifest's `brand`. The committed files use the manifest's.
#
# Files listed under `recorded:` in the manifest are real recordings: they
# are never overwritten (nor compared by --check).
#
# Needs bash 4+, espeak-ng (with the voices the manifest names) and sox.

set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
manifest="$here/manifest.yaml"

die() {
    printf 'generate.sh: %s\n' "$*" >&2
    exit 1
}

usage() {
    sed -n '/^# Usage:/,/^# Needs/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

# --- Arguments ---------------------------------------------------------------

out=""
check=0
only=()
brands=()
[[ -n "${ARS_BRAND:-}" ]] && brands+=("$ARS_BRAND")
while (($#)); do
    case "$1" in
    --check) check=1 ;;
    --brand)
        (($# >= 2)) || die "--brand needs a name (or <lang>=<name>)"
        brands+=("$2")
        shift
        ;;
    --out)
        (($# >= 2)) || die "--out needs a directory"
        out="$2"
        shift
        ;;
    -h | --help)
        usage
        exit 0
        ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) only+=("$1") ;;
    esac
    shift
done
if ((check)) && [[ -n "$out" ]]; then
    die "--check and --out do not go together"
fi

# --- Tools ---------------------------------------------------------------------

for tool in espeak-ng sox; do
    command -v "$tool" >/dev/null 2>&1 ||
        die "$tool is not installed (Debian/Ubuntu: apt-get install -y espeak-ng sox)"
done

# --- The manifest ----------------------------------------------------------------
#
# A strict reader for the subset of YAML the manifest uses (see its header).
# Any other line is an error that names the line, so the manifest cannot drift
# into YAML this script would misread.

declare -A voice=() speed=() pitch=() text=() pad=() is_recorded=() seen=() brand=()
declare -a langs=() names=() respell_lang=() respell_from=() respell_to=()

q='"([^"\\]*)"'        # a double-quoted text without " or \ inside
name_re='[a-z0-9_]+(/[a-z0-9_]+)*'
number_re='[0-9]+(\.[0-9]+)?'

[[ -r "$manifest" ]] || die "cannot read $manifest"

section="" lang="" prompt="" in_respell=0 lineno=0
while IFS= read -r line || [[ -n "$line" ]]; do
    lineno=$((lineno + 1))
    where="manifest.yaml:$lineno"
    [[ "$line" == *$'\r' ]] && die "$where: carriage return (save with LF line ends)"
    [[ "$line" == *$'\t'* ]] && die "$where: tab (indent with spaces)"
    [[ "$line" =~ ^[[:space:]]*(#.*)?$ ]] && continue

    if [[ "$line" =~ ^([a-z_]+):\ *$ ]]; then
        section="${BASH_REMATCH[1]}" lang="" prompt="" in_respell=0
        case "$section" in
        tts | padding | brand | prompts | recorded) ;;
        *) die "$where: unknown section '$section'" ;;
        esac
        continue
    fi
    if [[ "$line" =~ ^recorded:\ *\[\]\ *$ ]]; then
        section="recorded"
        continue
    fi

    case "$section" in
    tts)
        if [[ "$line" =~ ^\ \ ([a-z]{2,3}):\ *$ ]]; then
            lang="${BASH_REMATCH[1]}" in_respell=0
            [[ -z "${voice[$lang]+x}" ]] || die "$where: language '$lang' twice"
            langs+=("$lang")
            voice[$lang]="" speed[$lang]="" pitch[$lang]=""
        elif [[ -n "$lang" && "$line" =~ ^\ \ \ \ voice:\ +([A-Za-z0-9+_-]+)\ *$ ]]; then
            voice[$lang]="${BASH_REMATCH[1]}" in_respell=0
        elif [[ -n "$lang" && "$line" =~ ^\ \ \ \ speed:\ +([0-9]+)\ *$ ]]; then
            speed[$lang]="${BASH_REMATCH[1]}" in_respell=0
        elif [[ -n "$lang" && "$line" =~ ^\ \ \ \ pitch:\ +([0-9]+)\ *$ ]]; then
            pitch[$lang]="${BASH_REMATCH[1]}" in_respell=0
        elif [[ -n "$lang" && "$line" =~ ^\ \ \ \ respell:\ *$ ]]; then
            in_respell=1
        elif ((in_respell)) && [[ "$line" =~ ^\ {6}$q:\ +$q\ *$ ]]; then
            [[ -n "${BASH_REMATCH[1]}" ]] || die "$where: empty respelling"
            respell_lang+=("$lang")
            respell_from+=("${BASH_REMATCH[1]}")
            respell_to+=("${BASH_REMATCH[2]}")
        else
            die "$where: expected '  <lang>:', '    voice|speed|pitch: <value>', '    respell:' or '      \"<written>\": \"<spoken>\"'"
        fi
        ;;
    padding)
        [[ "$line" =~ ^\ \ ($name_re):\ +($number_re)\ *$ ]] ||
            die "$where: expected '  default|<folder>: <seconds>'"
        pad[${BASH_REMATCH[1]}]="${BASH_REMATCH[3]}"
        ;;
    brand)
        [[ "$line" =~ ^\ \ ([a-z]{2,3}):\ +$q\ *$ ]] ||
            die "$where: expected '  <lang>: \"<brand>\"'"
        [[ -z "${brand[${BASH_REMATCH[1]}]+x}" ]] || die "$where: brand for '${BASH_REMATCH[1]}' twice"
        brand[${BASH_REMATCH[1]}]="${BASH_REMATCH[2]}"
        ;;
    recorded)
        [[ "$line" =~ ^\ \ -\ +([a-z]{2,3}/$name_re)\ *$ ]] ||
            die "$where: expected '  - <lang>/<prompt>'"
        is_recorded[${BASH_REMATCH[1]}]=1
        ;;
    prompts)
        if [[ "$line" =~ ^\ \ ($name_re):\ *$ ]]; then
            prompt="${BASH_REMATCH[1]}"
            [[ -z "${seen[$prompt]+x}" ]] || die "$where: prompt '$prompt' twice"
            seen[$prompt]=1
            names+=("$prompt")
        elif [[ -n "$prompt" && "$line" =~ ^\ \ \ \ ([a-z]{2,3}):\ +$q\ *$ ]]; then
            lang="${BASH_REMATCH[1]}"
            [[ -n "${voice[$lang]+x}" ]] || die "$where: language '$lang' has no tts settings"
            [[ -z "${text[$lang/$prompt]+x}" ]] || die "$where: '$prompt' has '$lang' twice"
            [[ -n "${BASH_REMATCH[2]}" ]] || die "$where: empty text"
            # `{brand}` is the only placeholder; any other brace is a typo.
            placeholders="${BASH_REMATCH[2]//"{brand}"/}"
            [[ "$placeholders" != *[{}]* ]] || die "$where: the only placeholder a text may hold is {brand}"
            text[$lang/$prompt]="${BASH_REMATCH[2]}"
        else
            die "$where: expected '  <prompt>:' or '    <lang>: \"<text>\"'"
        fi
        ;;
    *) die "$where: outside any section" ;;
    esac
done <"$manifest"

((${#langs[@]})) || die "manifest.yaml: no languages under tts"
((${#names[@]})) || die "manifest.yaml: no prompts"
[[ -n "${pad[default]+x}" ]] || die "manifest.yaml: padding has no 'default'"
for lang in "${langs[@]}"; do
    [[ -n "${voice[$lang]}" && -n "${speed[$lang]}" && -n "${pitch[$lang]}" ]] ||
        die "manifest.yaml: tts.$lang needs voice, speed and pitch"
    espeak-ng -v "${voice[$lang]}" -q "" 2>/dev/null ||
        die "espeak-ng has no voice '${voice[$lang]}' (for $lang; see espeak-ng --voices)"
    for prompt in "${names[@]}"; do
        [[ -n "${text[$lang/$prompt]+x}" ]] || die "manifest.yaml: '$prompt' has no '$lang' text"
    done
done
# The brand: the manifest's, then $ARS_BRAND and each --brand in turn.
for lang in "${!brand[@]}"; do
    [[ -n "${voice[$lang]+x}" ]] || die "manifest.yaml: brand for '$lang', which has no tts settings"
done
for given in "${brands[@]}"; do
    branded=("${langs[@]}") name="$given"
    if [[ "$given" =~ ^([a-z]{2,3})=(.*)$ ]]; then
        [[ -n "${voice[${BASH_REMATCH[1]}]+x}" ]] ||
            die "brand '$given': manifest.yaml has no language '${BASH_REMATCH[1]}'"
        branded=("${BASH_REMATCH[1]}") name="${BASH_REMATCH[2]}"
    fi
    # The brand is spoken inside a manifest text: it keeps to the same rules.
    [[ -n "$name" && "$name" != *[\"\\{}]* && "$name" != *[[:cntrl:]]* ]] ||
        die "brand '$given': give a non-empty name without \", \\, { or }"
    for lang in "${branded[@]}"; do
        brand[$lang]="$name"
    done
done
for lang in "${langs[@]}"; do
    [[ -n "${brand[$lang]:-}" ]] || die "manifest.yaml: brand has no '$lang' (nor was one given)"
done

for key in "${!is_recorded[@]}"; do
    [[ -n "${text[$key]+x}" ]] || die "manifest.yaml: recorded '$key' is not a prompt"
done
for prompt in "${only[@]}"; do
    [[ -n "${seen[$prompt]+x}" ]] || die "no prompt '$prompt' in manifest.yaml"
done

# --- Rendering -------------------------------------------------------------------

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

if ((check)); then
    dest="$work/out"
elif [[ -n "$out" ]]; then
    dest="$out"
else
    dest="$here"
fi

# The text espeak-ng is given: the manifest's text with the language's
# respellings applied (quoted patterns: literal, not globs).
spoken_text() {
    local lang="$1" s="$2" i
    for i in "${!respell_from[@]}"; do
        [[ "${respell_lang[$i]}" == "$lang" ]] || continue
        s="${s//"${respell_from[$i]}"/"${respell_to[$i]}"}"
    done
    printf '%s' "$s"
}

# The padding for a prompt: its innermost folder's, else the default.
padding_for() {
    local dir="$1"
    while [[ "$dir" == */* ]]; do
        dir="${dir%/*}"
        if [[ -n "${pad[$dir]+x}" ]]; then
            printf '%s' "${pad[$dir]}"
            return
        fi
    done
    printf '%s' "${pad[default]}"
}

# render LANG PROMPT FILE
render() {
    local lang="$1" prompt="$2" file="$3" p written
    # The replacement is quoted so that a `&` in a brand stays a `&`.
    written="${text[$lang/$prompt]//"{brand}"/"${brand[$lang]}"}"
    spoken_text "$lang" "$written" >"$work/text.txt"
    espeak-ng -v "${voice[$lang]}" -s "${speed[$lang]}" -p "${pitch[$lang]}" \
        -b 1 -f "$work/text.txt" -w "$work/tts.wav" ||
        die "espeak-ng failed on $lang/$prompt"
    p="$(padding_for "$prompt")"
    # -D: no dither (it would add random noise). The effects run in order:
    # trim the start, trim the end (reverse, trim, reverse), high-pass,
    # resample, normalize, pad.
    sox -D -V1 "$work/tts.wav" -t wav -r 8000 -b 16 -c 1 -e signed-integer "$work/out.wav" \
        silence 1 0.01 0.1% reverse silence 1 0.01 0.1% reverse \
        highpass 100 rate -h 8000 gain -n -3 pad "$p" "$p" ||
        die "sox failed on $lang/$prompt"
    mkdir -p "$(dirname "$file")"
    mv "$work/out.wav" "$file"
}

targets=("${names[@]}")
((${#only[@]})) && targets=("${only[@]}")

written=0 skipped=0 bytes=0
for lang in "${langs[@]}"; do
    for prompt in "${targets[@]}"; do
        if [[ -n "${is_recorded[$lang/$prompt]+x}" ]]; then
            skipped=$((skipped + 1))
            continue
        fi
        file="$dest/$lang/$prompt.wav"
        render "$lang" "$prompt" "$file"
        written=$((written + 1))
        bytes=$((bytes + $(wc -c <"$file")))
    done
done

if ((check)); then
    differ=0
    for lang in "${langs[@]}"; do
        for prompt in "${targets[@]}"; do
            [[ -z "${is_recorded[$lang/$prompt]+x}" ]] || continue
            rel="$lang/$prompt.wav"
            if [[ ! -f "$here/$rel" ]]; then
                printf 'missing: %s\n' "$rel"
                differ=$((differ + 1))
            elif ! cmp -s "$dest/$rel" "$here/$rel"; then
                printf 'differs: %s\n' "$rel"
                differ=$((differ + 1))
            fi
        done
    done
    if ((differ)); then
        printf '%d of %d files differ from a fresh generation (%s; %s)\n' "$differ" "$written" \
            "$(espeak-ng --version | head -n1)" "$(sox --version 2>&1 | head -n1)" >&2
        exit 1
    fi
    printf '%d files match a fresh generation\n' "$written"
else
    printf '%d files written under %s (%d bytes)' "$written" "$dest" "$bytes"
    ((skipped)) && printf ', %d recordings left alone' "$skipped"
    printf '\n'
fi
