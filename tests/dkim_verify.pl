# Verify DKIM with Mail::DKIM, the public keys read from a file (name, then TXT), not DNS.
use strict; use warnings;
use Mail::DKIM::Verifier; use Net::DNS;
my ($keys, @files) = @ARGV;
my %txt; open(my $k, '<', $keys) or die; while (<$k>) { chomp; my ($n, $v) = split / /, $_, 2; $txt{lc $n} = $v; } close $k;
no warnings 'redefine';
*Mail::DKIM::DNS::query = sub { my ($name, $type) = @_; my $v = $txt{lc $name}; return () unless defined $v;
  my $rr = Net::DNS::RR->new(name => $name, type => 'TXT', txtdata => $v); return ($rr); };
for my $f (@files) { my $d = Mail::DKIM::Verifier->new; open(my $h, '<', $f) or die;
  while (<$h>) { s/\r?\n\z/\r\n/; $d->PRINT($_); } $d->CLOSE; print "$f ", $d->result, "\n"; }
