/**
 * `opendcr admin hash-password`: the scrypt hash of a console user's password, for
 * `[[admin.users]] password_hash`. The password is read from standard input (never an argument,
 * which other users of the machine could see in the process list).
 */
import { Command } from 'commander';
import { hashPassword } from '../../admin/passwords.ts';
import { MIN_PASSWORD_LENGTH, whyWeak } from '../../admin/password-rules.ts';
import { CliError } from '../shared.ts';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    size += (chunk as Buffer).length;
    if (size > 4096) throw new CliError('the password on standard input is longer than 4096 bytes', 2);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

export function adminCommand(): Command {
  const cmd = new Command('admin').description('Admin console users');
  cmd
    .command('hash-password')
    .description(
      'Print the scrypt hash of the password read from standard input, for [[admin.users]] password_hash (e.g. `read -rs P; printf %s "$P" | opendcr admin hash-password`)',
    )
    .action(async () => {
      const password = await readStdin();
      // The server can only try a few guesses against a hash at start: the rest is checked here.
      const why = whyWeak(password);
      if (why) throw new CliError(`the password ${why}: a console password has at least ${MIN_PASSWORD_LENGTH} characters and is no well-known default`, 2);
      process.stdout.write(`${await hashPassword(password)}\n`);
    });
  return cmd;
}
