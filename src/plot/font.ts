// The font a PNG is drawn with, and how wide text set in it is. Charts are laid out with
// DejaVu Sans' advance widths and rasterized with that font's file, handed to the
// rasterizer explicitly: a chart never depends on which fonts a machine happens to have.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { configOf } from '../config.ts';
import { MmrunError } from '../errors.ts';

/** The family charts name first; its metrics are those below. */
export const FONT_FAMILY = 'DejaVu Sans';

// Where DejaVu Sans lives: Debian/Ubuntu (fonts-dejavu-core), Fedora, Arch, Alpine, Homebrew.
const DEJAVU_DIRS = [
  '/usr/share/fonts/truetype/dejavu',
  '/usr/share/fonts/dejavu-sans-fonts',
  '/usr/share/fonts/TTF',
  '/usr/share/fonts/dejavu',
  '/opt/homebrew/share/fonts',
  '/usr/local/share/fonts',
];
const REGULAR = 'DejaVuSans.ttf';
const BOLD = 'DejaVuSans-Bold.ttf';

/**
 * The font files to draw a PNG with: `$MMRUN_FONT` (files separated by `:`), else DejaVu
 * Sans (regular, and bold when present) from the usual system directories.
 * @throws MmrunError `FONT_NOT_FOUND` saying how to install one.
 */
export function findFontFiles(env: NodeJS.ProcessEnv = process.env): string[] {
  const fromEnv = configOf(env).fontFiles;
  if (fromEnv && fromEnv.length > 0) {
    const missing = fromEnv.filter((f) => !fs.existsSync(f));
    if (missing.length > 0) {
      throw new MmrunError('FONT_NOT_FOUND', `MMRUN_FONT names ${missing.join(', ')}, which does not exist`, {
        remedy: 'set MMRUN_FONT to a .ttf or .otf file, or unset it to use DejaVu Sans',
      });
    }
    return [...fromEnv];
  }
  for (const dir of DEJAVU_DIRS) {
    const regular = path.join(dir, REGULAR);
    if (!fs.existsSync(regular)) continue;
    const bold = path.join(dir, BOLD);
    return fs.existsSync(bold) ? [regular, bold] : [regular];
  }
  throw new MmrunError('FONT_NOT_FOUND', `no font to draw the PNG's text: ${REGULAR} is not in ${DEJAVU_DIRS[0]}`, {
    remedy:
      'install DejaVu Sans (Debian/Ubuntu: apt-get install fonts-dejavu-core), set MMRUN_FONT=/path/to/font.ttf, or write an SVG (--out chart.svg)',
  });
}

// Advance widths of DejaVu Sans and DejaVu Sans Bold for ASCII 32..126, in 1/1000 em
// (from the fonts' hmtx tables).
// biome-ignore format: a table
const REGULAR_WIDTHS = [
  318, 401, 460, 838, 636, 950, 780, 275, 390, 390, 500, 838, 318, 361, 318, 337, 636, 636, 636, 636, 636, 636, 636,
  636, 636, 636, 337, 337, 838, 838, 838, 531, 1000, 684, 686, 698, 770, 632, 575, 775, 752, 295, 295, 656, 557, 863,
  748, 787, 603, 787, 695, 635, 611, 732, 684, 989, 685, 611, 685, 390, 337, 390, 838, 500, 500, 613, 635, 550, 635,
  615, 352, 635, 634, 278, 278, 579, 278, 974, 634, 612, 635, 635, 411, 521, 392, 634, 592, 818, 592, 592, 525, 636,
  337, 636, 838,
];
// biome-ignore format: a table
const BOLD_WIDTHS = [
  348, 456, 521, 838, 696, 1002, 872, 306, 457, 457, 523, 838, 380, 415, 380, 365, 696, 696, 696, 696, 696, 696, 696,
  696, 696, 696, 400, 400, 838, 838, 838, 580, 1000, 774, 762, 734, 830, 683, 683, 821, 837, 372, 372, 775, 637, 995,
  837, 850, 733, 850, 770, 720, 682, 812, 774, 1103, 771, 724, 725, 457, 365, 457, 838, 500, 500, 675, 716, 593, 716,
  678, 435, 716, 712, 343, 343, 665, 343, 1042, 712, 687, 716, 716, 493, 595, 478, 712, 652, 924, 645, 652, 582, 712,
  365, 712, 838,
];
// Beyond ASCII: a few signs by name; mathematical operators (−, ≈, ∞) are 838; anything
// else is taken as an em, so text is never narrower than estimated.
const WIDE: Readonly<Record<string, number>> = {
  '\u00b7': 318,
  '\u00d7': 838,
  '\u2013': 500,
  '\u2014': 1000,
  '\u2026': 1000,
};

/** Width in pixels of `text` set in DejaVu Sans at `size` px. */
export function textWidth(text: string, size: number, bold = false): number {
  const table = bold ? BOLD_WIDTHS : REGULAR_WIDTHS;
  let units = 0;
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    units += (code >= 32 && code < 127 ? table[code - 32] : undefined) ?? WIDE[ch] ?? (code < 0x2200 ? 1000 : 838);
  }
  return (units / 1000) * size;
}
